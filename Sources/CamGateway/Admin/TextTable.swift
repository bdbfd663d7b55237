import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Plain aligned columns for a terminal; a bold header only when standard output is a terminal, so that pipes
/// and scripts get clean text.
enum TextTable {
    static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Cells may hold what a camera sent (its WS-Discovery scopes, its hostnames): every control character is
    /// shown as `\u{…}`, so no cell can move the cursor, retitle the terminal or fake a line.
    static func render(header: [String]?, rows: [[String]]) -> String {
        let rows = rows.map { $0.map(Self.visible) }
        let all = (header.map { [$0] } ?? []) + rows
        guard let columns = all.map(\.count).max(), columns > 0 else { return "" }
        let widths = (0..<columns).map { column in all.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        var lines: [String] = []
        if let header {
            lines.append(self.isTerminal ? "\u{1B}[1m" + line(header) + "\u{1B}[0m" : line(header))
        }
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }

    /// `text` with each control character (C0, DEL, C1) written as `\u{1B}`.
    static func visible(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: Self.isControl) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if Self.isControl(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// C0, DEL and C1: the set `camgw check` refuses in header values and the tables escape.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// Red on a terminal, plain otherwise.
    static func alert(_ text: String) -> String {
        self.isTerminal ? "\u{1B}[31m" + text + "\u{1B}[0m" : text
    }
}
