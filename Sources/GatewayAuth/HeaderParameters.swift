/// Splitting of `;`-separated parameter lists and `,`-separated element lists, shared by the structured headers.
/// Quoted strings (RFC 7230 §3.2.6) are honoured, so a `;` or `,` inside quotes does not split.
package enum HeaderParameters {
    /// Splits `value` at `separator` outside double quotes; each part trimmed of whitespace; empty parts dropped.
    package static func split(_ value: Substring, on separator: Character) -> [Substring] {
        var parts: [Substring] = []
        var start = value.startIndex
        var inQuotes = false
        var escaped = false
        var index = value.startIndex
        while index < value.endIndex {
            let c = value[index]
            if escaped {
                escaped = false
            } else if inQuotes && c == "\\" {
                escaped = true
            } else if c == "\"" {
                inQuotes.toggle()
            } else if c == separator && !inQuotes {
                parts.append(value[start..<index])
                start = value.index(after: index)
            }
            index = value.index(after: index)
        }
        parts.append(value[start..<value.endIndex])
        return parts.map { $0.trimmingASCIIWhitespace() }.filter { !$0.isEmpty }
    }

    /// `name=value` or `name` alone; the value trimmed and unquoted.
    package static func keyValue(_ part: Substring) -> (key: Substring, value: Substring?) {
        guard let equals = part.firstIndex(of: "=") else { return (part, nil) }
        let key = part[part.startIndex..<equals].trimmingASCIIWhitespace()
        let value = part[part.index(after: equals)...].trimmingASCIIWhitespace()
        return (key, unquote(value))
    }

    package static func unquote(_ value: Substring) -> Substring {
        guard value.count >= 2, value.first == "\"", value.last == "\"" else { return value }
        let inner = value.dropFirst().dropLast()
        guard inner.contains("\\") else { return inner }
        var result = ""
        var escaped = false
        for c in inner {
            if escaped || c != "\\" {
                result.append(c)
                escaped = false
            } else {
                escaped = true
            }
        }
        return Substring(result)
    }

    /// A quoted-string for writing: backslash and double quote escaped.
    package static func quote(_ value: String) -> String {
        var result = "\""
        for c in value {
            if c == "\"" || c == "\\" { result.append("\\") }
            result.append(c)
        }
        result.append("\"")
        return result
    }

    /// A decimal number of at most `maxDigits` digits (no sign, no spaces inside).
    package static func decimal<T: FixedWidthInteger>(_ value: Substring, maxDigits: Int, as: T.Type = T.self) -> T? {
        guard (1...maxDigits).contains(value.utf8.count), value.utf8.allSatisfy(isDigit) else { return nil }
        return T(value)
    }
}
