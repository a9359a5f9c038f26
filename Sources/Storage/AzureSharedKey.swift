import Crypto
import Foundation

/// Azure Storage "Shared Key" authorization for the Blob service (service version 2015-02-21
/// and later): an HMAC-SHA256, under the base64-decoded account key, of
///
///     VERB \n Content-Encoding \n Content-Language \n Content-Length (empty when 0) \n
///     Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n If-Match \n
///     If-None-Match \n If-Unmodified-Since \n Range \n
///     x-ms-* headers, lower-cased and sorted, one "name:value\n" each
///     /account/encoded-path, then "\nname:value" per query parameter, names lower-cased and
///     sorted, values decoded, repeated values joined by commas.
public struct AzureSharedKey: Sendable {
    public let account: String
    let key: SymmetricKey

    /// `base64Key` is the account key as the portal shows it.
    public init(account: String, base64Key: String) throws {
        guard let bytes = Data(base64Encoded: base64Key.trimmingCharacters(in: .whitespacesAndNewlines)), !bytes.isEmpty else {
            throw StoreError.rejected(status: 0, code: "InvalidAccountKey", message: "the account key of \(account) is not base64")
        }
        self.account = account
        self.key = SymmetricKey(data: bytes)
    }

    static let standardHeaders = [
        "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
        "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
    ]

    /// The string to sign; `headers` names are lower-case, `path` is the request's encoded
    /// path, `query` the decoded parameters.
    public static func stringToSign(account: String, method: String, path: String, query: [(String, String)], headers: [(String, String)]) -> String {
        var lines = [method]
        for name in standardHeaders {
            let value = headers.first { $0.0 == name }?.1 ?? ""
            lines.append(name == "content-length" && value == "0" ? "" : value)
        }
        var text = lines.joined(separator: "\n") + "\n"
        for (name, value) in headers.filter({ $0.0.hasPrefix("x-ms-") }).sorted(by: { $0.0 < $1.0 }) {
            text += "\(name):\(value.trimmingCharacters(in: .whitespaces))\n"
        }
        text += "/\(account)\(path)"
        var grouped: [String: [String]] = [:]
        for (name, value) in query { grouped[name.lowercased(), default: []].append(value) }
        for name in grouped.keys.sorted() {
            text += "\n\(name):\(grouped[name, default: []].joined(separator: ","))"
        }
        return text
    }

    /// The `Authorization` header value.
    public func authorization(method: String, path: String, query: [(String, String)], headers: [(String, String)]) -> String {
        let text = Self.stringToSign(account: account, method: method, path: path, query: query, headers: headers)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)
        return "SharedKey \(account):\(Data(mac).base64EncodedString())"
    }
}
