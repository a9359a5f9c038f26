/// A minimal XML writer for S3 response bodies: escapes text, nothing else.
///
/// S3 responses are small, flat documents; building them by hand keeps the exact element
/// order and namespace that clients (and their XML parsers) expect.
public struct XMLWriter: Sendable {
    public static let s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"
    public private(set) var result = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"

    public init() {}

    public mutating func open(_ name: String, namespace: Bool = true) {
        result += namespace ? "<\(name) xmlns=\"\(Self.s3Namespace)\">" : "<\(name)>"
    }

    public mutating func close(_ name: String) {
        result += "</\(name)>"
    }

    public mutating func element(_ name: String, _ text: String) {
        result += "<\(name)>"
        result += Self.escape(text)
        result += "</\(name)>"
    }

    public mutating func element(_ name: String, _ value: Int64) { element(name, String(value)) }
    public mutating func element(_ name: String, _ value: Int) { element(name, String(value)) }
    public mutating func element(_ name: String, _ value: Bool) { element(name, value ? "true" : "false") }

    public mutating func group(_ name: String, attributes: [(String, String)] = [], _ body: (inout XMLWriter) -> Void) {
        result += "<\(name)"
        for (attribute, value) in attributes { result += " \(attribute)=\"\(Self.escape(value))\"" }
        result += ">"
        body(&self)
        result += "</\(name)>"
    }

    /// Escapes the five XML special characters, and control characters that XML 1.0 cannot carry
    /// as text are written as character references (keys may hold any UTF-8, S3 does the same).
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n":
                out.unicodeScalars.append(scalar)
            case "\r": out += "&#13;"
            default:
                if scalar.value < 0x20 {
                    out += "&#\(scalar.value);"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
