import Foundation
import XMLCoder

/// Request bodies S3 accepts as XML, decoded strictly and with a size cap.
public enum XMLRequests {
    /// CompleteMultipartUpload may list 10,000 parts (~1.5 MB); nothing else comes close.
    public static let maxBodySize = 2 * 1024 * 1024

    public struct CompletedPart: Decodable, Sendable, Equatable {
        public var partNumber: Int
        public var etag: String
        public var checksums: [ChecksumAlgorithm: String]

        enum CodingKeys: String, CodingKey {
            case partNumber = "PartNumber", etag = "ETag"
            case crc32 = "ChecksumCRC32", crc32c = "ChecksumCRC32C", crc64 = "ChecksumCRC64NVME"
            case sha1 = "ChecksumSHA1", sha256 = "ChecksumSHA256"
        }

        public init(partNumber: Int, etag: String, checksums: [ChecksumAlgorithm: String] = [:]) {
            self.partNumber = partNumber
            self.etag = etag
            self.checksums = checksums
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            partNumber = try c.decode(Int.self, forKey: .partNumber)
            etag = try c.decode(String.self, forKey: .etag)
            var sums: [ChecksumAlgorithm: String] = [:]
            let pairs: [(CodingKeys, ChecksumAlgorithm)] = [(.crc32, .crc32), (.crc32c, .crc32c), (.crc64, .crc64nvme), (.sha1, .sha1), (.sha256, .sha256)]
            for (k, a) in pairs {
                if let v = try c.decodeIfPresent(String.self, forKey: k) { sums[a] = v }
            }
            checksums = sums
        }
    }

    public struct CompleteMultipartUpload: Decodable, Sendable {
        public var parts: [CompletedPart]
        enum CodingKeys: String, CodingKey { case parts = "Part" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            parts = try c.decodeIfPresent([CompletedPart].self, forKey: .parts) ?? []
        }
    }

    public struct ObjectIdentifier: Decodable, Sendable, Equatable {
        public var key: String
        public var versionId: String?
        enum CodingKeys: String, CodingKey { case key = "Key", versionId = "VersionId" }
    }

    public struct Delete: Decodable, Sendable {
        public var objects: [ObjectIdentifier]
        public var quiet: Bool
        enum CodingKeys: String, CodingKey { case objects = "Object", quiet = "Quiet" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            objects = try c.decodeIfPresent([ObjectIdentifier].self, forKey: .objects) ?? []
            let q = try c.decodeIfPresent(String.self, forKey: .quiet)?.trimmingCharacters(in: .whitespaces).lowercased()
            quiet = q == "true"
        }
    }

    public struct CreateBucketConfiguration: Decodable, Sendable {
        public var locationConstraint: String?
        enum CodingKeys: String, CodingKey { case locationConstraint = "LocationConstraint" }
    }

    /// Decodes `T` from `body`; any parse failure or wrong root is `MalformedXML`.
    public static func decode<T: Decodable>(_ type: T.Type, root: String, from body: [UInt8]) throws(S3Error) -> T {
        guard body.count <= maxBodySize else {
            throw S3Error(.maxMessageLengthExceeded, "Your request was too big.")
        }
        guard hasRoot(body, root) else {
            throw S3Error(.malformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
        }
        do {
            let decoder = XMLDecoder()
            decoder.shouldProcessNamespaces = true
            decoder.trimValueWhitespaces = false
            return try decoder.decode(T.self, from: Data(body))
        } catch {
            throw S3Error(.malformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
        }
    }

    /// XMLCoder ignores the root element's name; S3 does not, so check it (after any prolog).
    static func hasRoot(_ body: [UInt8], _ root: String) -> Bool {
        let text = String(decoding: body.prefix(4096), as: UTF8.self)
        var rest = Substring(text)
        while true {
            rest = rest.drop { $0.isWhitespace }
            if rest.hasPrefix("<?") || rest.hasPrefix("<!--") {
                let close = rest.hasPrefix("<?") ? "?>" : "-->"
                guard let end = rest.range(of: close) else { return false }
                rest = rest[end.upperBound...]
                continue
            }
            break
        }
        guard rest.hasPrefix("<") else { return false }
        let name = rest.dropFirst().prefix { !$0.isWhitespace && $0 != ">" && $0 != "/" }
        let local = name.split(separator: ":").last.map(String.init) ?? String(name)
        guard local == root else { return false }
        // Nothing may follow the root element (Foundation's parser stops at its end silently).
        let tail = String(decoding: body.suffix(256), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return tail.hasSuffix("</\(name)>") || tail.hasSuffix("/>") && !tail.contains("</")
    }
}
