import Catalog
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol

extension S3Dispatcher {
    static let ownerID = "passerelle"

    static func owner(_ w: inout XMLWriter) {
        w.group("Owner") { w in
            w.element("ID", ownerID)
            w.element("DisplayName", ownerID)
        }
    }

    func listBuckets(_ call: S3Call) async throws -> Response {
        let t = call.target
        let page = try BucketPage(
            maxBuckets: t.queryValue("max-buckets"), continuationToken: t.queryValue("continuation-token"), prefix: t.queryValue("prefix"),
            region: t.queryValue("bucket-region"))
        let visible = call.access.visibleDatasets
        let (buckets, next) = page.select(try await objects.datasets().filter { visible?.contains($0.name) ?? true }) { ($0.name, $0.region) }
        var w = XMLWriter()
        w.open("ListAllMyBucketsResult")
        Self.owner(&w)
        w.group("Buckets") { w in
            for b in buckets {
                w.group("Bucket") { w in
                    w.element("Name", b.name)
                    w.element("CreationDate", HTTPDate.iso8601(b.created))
                    w.element("BucketRegion", b.region)
                }
            }
        }
        if let next { w.element("ContinuationToken", next) }
        if let prefix = page.prefix { w.element("Prefix", prefix) }
        w.close("ListAllMyBucketsResult")
        return xmlResponse(w.result)
    }

    func createBucket(_ call: S3Call) async throws -> Response {
        if let problem = GatewayNames.datasetNameProblem(call.bucket) {
            throw S3Error(.invalidBucketName, "The specified bucket is not valid. \(problem)", details: [("BucketName", call.bucket)])
        }
        let body = try await readSmallBody(call)
        if !body.isEmpty {
            let config = try XMLRequests.createBucketConfiguration(body)
            if let loc = config.locationConstraint, !loc.isEmpty, loc != state.region {
                throw S3Error(
                    .invalidArgument, "The specified location-constraint is not valid for this endpoint (region \(state.region)).",
                    details: [("LocationConstraint", loc)])
            }
        }
        do {
            let lock = call.header("x-amz-bucket-object-lock-enabled")?.lowercased() == "true"
            try await objects.createDataset(call.bucket, region: state.region, objectLock: lock)
        } catch CatalogError.bucketExists where state.region == "us-east-1" {
            // us-east-1 answers the re-creation of one's own bucket 200 and changes nothing
            // (S3 CreateBucket: legacy compatibility); every other region BucketAlreadyOwnedByYou.
        }
        return Response(status: .ok, headers: [.location: "/\(call.bucket)"])
    }

    func headBucket(_ call: S3Call) async throws -> Response {
        let b = try await objects.dataset(call.bucket)
        return Response(status: .ok, headers: [.init("x-amz-bucket-region")!: b.region])
    }

    func deleteBucket(_ call: S3Call) async throws -> Response {
        try await objects.deleteDataset(call.bucket)
        return Response(status: .noContent)
    }

    func getBucketLocation(_ call: S3Call) async throws -> Response {
        let b = try await objects.dataset(call.bucket)
        var w = XMLWriter()
        // us-east-1 is reported as an empty constraint, as AWS does.
        w.open("LocationConstraint")
        w.close("LocationConstraint")
        let body =
            b.region == "us-east-1"
            ? w.result : w.result.replacingOccurrences(of: "</LocationConstraint>", with: "\(XMLWriter.escape(b.region))</LocationConstraint>")
        return xmlResponse(body)
    }

    func getBucketLifecycle(_ call: S3Call) async throws -> Response {
        guard let rules = try await objects.dataset(call.bucket).lifecycle else {
            throw S3Error(.noSuchLifecycleConfiguration, "The lifecycle configuration does not exist", details: [("BucketName", call.bucket)])
        }
        return xmlResponse(rules.xml)
    }

    func putBucketLifecycle(_ call: S3Call) async throws -> Response {
        let body = try await readSmallBody(call)
        try verifyIntegrityHeaders(call, body: body, required: true)
        try await objects.setLifecycle(call.bucket, try LifecycleConfiguration.parse(body))
        return Response(status: .ok)
    }

    func deleteBucketLifecycle(_ call: S3Call) async throws -> Response {
        try await objects.setLifecycle(call.bucket, nil)
        return Response(status: .noContent)
    }
}
