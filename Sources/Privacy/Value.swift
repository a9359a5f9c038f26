/// One cell of a row, whatever the file format: CSV cells are all `text` (an empty field is
/// empty text), JSON Lines keep their types so a kept number stays a number.
public enum Value: Sendable, Equatable, Hashable {
    case null
    case text(String)
    /// A JSON number, as written in the source (so `1.50` is kept as `1.50`).
    case number(String)
    case bool(Bool)
    /// A nested JSON array or object, kept verbatim (only a `keep` rule passes it on).
    case json(String)

    /// The value as a rule reads it; nil for null and empty text.
    public var scalar: String? {
        switch self {
        case .null: nil
        case .text(let s): s.isEmpty ? nil : s
        case .number(let s), .json(let s): s
        case .bool(let b): b ? "true" : "false"
        }
    }
}

/// Why a view cannot be computed: names the line of the source (or of the view file) when one
/// is at fault, so an operator can find it.
public struct PrivacyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int?
    public var message: String

    public init(line: Int? = nil, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}
