import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Plain aligned columns for a terminal; a bold header only when standard output is a terminal, so that pipes
/// and scripts get clean text.
enum TextTable {
    static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    static func render(header: [String]?, rows: [[String]]) -> String {
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

    /// Red on a terminal, plain otherwise.
    static func alert(_ text: String) -> String {
        self.isTerminal ? "\u{1B}[31m" + text + "\u{1B}[0m" : text
    }
}
