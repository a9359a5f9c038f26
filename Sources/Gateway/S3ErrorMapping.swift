import Catalog
import Datasets
import S3Protocol
import Sealing
import Storage

/// How each layer's errors reach a client: mapped once, here, at the edge (STYLE.md §2). What a
/// backend or the keyring said goes to the log only.
protocol S3ErrorConvertible: Error {
    var s3Error: S3Error { get }
}

extension S3Error: S3ErrorConvertible {
    var s3Error: S3Error { self }
}

extension CatalogError: S3ErrorConvertible {
    var s3Error: S3Error {
        switch self {
        case .bucketExists: .bucketAlreadyOwnedByYou()
        case .noSuchBucket: .noSuchBucket()
        case .bucketNotEmpty: S3Error(.bucketNotEmpty, "The bucket you tried to delete is not empty")
        case .noSuchUpload: .noSuchUpload()
        case .corrupt, .phase, .notReady: .internalError()
        case .routingChanged: S3Error(.serviceUnavailable, "The dataset's placement changed during the request. Please retry.")
        }
    }
}

extension DatasetError: S3ErrorConvertible {
    var s3Error: S3Error {
        switch code {
        case .noSuchDataset: .noSuchBucket()
        case .noSuchKey: .noSuchKey(key: key ?? "")
        case .noSuchUpload: .noSuchUpload()
        case .uploadFromOlderVersion: S3Error(.noSuchUpload, "The upload was started by an older version; abort it and start again.")
        case .conflict:
            S3Error(.operationAborted, "A conflicting conditional operation is currently in progress against this resource. Please try again.")
        case .backendNotConfigured: S3Error(.serviceUnavailable, "The dataset's backend '\(subject ?? "")' is not configured on this gateway.")
        case .layoutNotSupported: S3Error(.notImplemented, "Layout '\(subject ?? "")' is not supported by this gateway.")
        case .keysUnavailable: S3Error(.serviceUnavailable, "The dataset '\(dataset ?? "")' is sealed and this gateway has no master key.")
        case .targetUnavailable:
            S3Error(.serviceUnavailable, "The dataset's migration target is unavailable; the \(subject ?? "write") was not applied. Please retry.")
        case .versioningUnavailable: S3Error(.invalidBucketState, detail)
        case .locked: ObjectLock.accessDenied()
        case .reservedKey: S3Error(.invalidArgument, detail)
        case .viewFailed: S3Error(.invalidObjectState, "The project's view of this object cannot be computed: \(detail)")
        default: .internalError()
        }
    }
}

extension DeleteMarkerFound: S3ErrorConvertible {
    /// A key whose latest version is a delete marker reads as absent (404 NoSuchKey); a marker
    /// named by its id cannot be read (405). Either way S3 says it is a marker.
    var s3Error: S3Error {
        var headers = [("x-amz-delete-marker", "true"), ("x-amz-version-id", marker.versionID.description)]
        guard named else { return S3Error(.noSuchKey, "The specified key does not exist.", details: [("Key", marker.key)], headers: headers) }
        headers.append(("Last-Modified", HTTPDate.format(marker.lastModified)))
        return S3Error(
            .methodNotAllowed, "The specified method is not allowed against this resource.",
            details: [("Method", "GET"), ("ResourceType", "DeleteMarker")], headers: headers)
    }
}

extension StoreError: S3ErrorConvertible {
    /// What a client sees of a backend failure; the reason itself goes to the log only.
    var s3Error: S3Error {
        switch self {
        case .unavailable:
            S3Error(.serviceUnavailable, "The storage backend is unavailable. Please retry.")
        case .rejected, .notFound, .io, .changed:
            S3Error(.internalError, "We encountered an internal error with the storage backend. Please try again.")
        }
    }
}

extension SealingError: S3ErrorConvertible {
    /// A shredded key makes an object deliberately unreadable: 403 InvalidObjectState (as S3
    /// answers for an object it cannot serve in its current state), not a retryable 5xx. Every
    /// other failure was logged and counted where it was detected (integrity alert).
    var s3Error: S3Error {
        switch self {
        case .shredded:
            S3Error(.invalidObjectState, "The object is unreadable: the key version that protected it was shredded.")
        default:
            S3Error(.internalError, "We encountered an internal error. The stored object failed its integrity check.")
        }
    }
}

extension KeyringError: S3ErrorConvertible {
    var s3Error: S3Error { S3Error(.serviceUnavailable, "The dataset's keys are not available on this gateway.") }
}
