/// Request bodies S3 accepts as XML, decoded strictly and with a size cap.
public enum XMLRequests {
    /// CompleteMultipartUpload may list 10,000 parts (~1.5 MB); nothing else comes close.
    public static let maxBodySize = 2 * 1024 * 1024

    public struct CompletedPart: Sendable, Equatable {
        public var partNumber: Int
        public var etag: String
        public var checksums: [ChecksumAlgorithm: String]

        public init(partNumber: Int, etag: String, checksums: [ChecksumAlgorithm: String] = [:]) {
            self.partNumber = partNumber
            self.etag = etag
            self.checksums = checksums
        }
    }

    public struct CompleteMultipartUpload: Sendable {
        public var parts: [CompletedPart]
    }

    public struct ObjectIdentifier: Sendable, Equatable {
        public var key: String
        public var versionId: String?
    }

    public struct Delete: Sendable {
        public var objects: [ObjectIdentifier]
        public var quiet: Bool
    }

    public struct CreateBucketConfiguration: Sendable {
        public var locationConstraint: String?
    }

    static let malformed = S3Error(.malformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")

    /// Parses `body` and checks its root element's local name.
    static func root(_ body: [UInt8], _ name: String) throws(S3Error) -> XMLElement {
        guard body.count <= maxBodySize else {
            throw S3Error(.maxMessageLengthExceeded, "Your request was too big.")
        }
        let root: XMLElement
        do {
            root = try XMLTree.parse(body)
        } catch {
            throw malformed
        }
        guard root.localName == name else { throw malformed }
        return root
    }

    public static func completeMultipartUpload(_ body: [UInt8]) throws(S3Error) -> CompleteMultipartUpload {
        let root = try root(body, "CompleteMultipartUpload")
        var parts: [CompletedPart] = []
        for p in root.all("Part") {
            guard let n = p.child("PartNumber").flatMap({ Int($0.text.trimmingSpaces()) }), let etag = p.child("ETag")?.text else {
                throw malformed
            }
            var sums: [ChecksumAlgorithm: String] = [:]
            for alg in ChecksumAlgorithm.allCases {
                if let v = p.child(alg.xmlName)?.text { sums[alg] = v.trimmingSpaces() }
            }
            parts.append(CompletedPart(partNumber: n, etag: etag.trimmingSpaces(), checksums: sums))
        }
        return CompleteMultipartUpload(parts: parts)
    }

    public static func delete(_ body: [UInt8]) throws(S3Error) -> Delete {
        let root = try root(body, "Delete")
        var objects: [ObjectIdentifier] = []
        for o in root.all("Object") {
            // Keys are taken byte for byte: leading and trailing spaces are part of a key.
            guard let key = o.child("Key")?.text else { throw malformed }
            objects.append(ObjectIdentifier(key: key, versionId: o.child("VersionId")?.text))
        }
        let quiet = root.child("Quiet")?.text.trimmingSpaces().lowercased() == "true"
        return Delete(objects: objects, quiet: quiet)
    }

    public static func createBucketConfiguration(_ body: [UInt8]) throws(S3Error) -> CreateBucketConfiguration {
        let root = try root(body, "CreateBucketConfiguration")
        return CreateBucketConfiguration(locationConstraint: root.child("LocationConstraint")?.text.trimmingSpaces())
    }
}
