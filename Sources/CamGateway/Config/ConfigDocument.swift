/// The configuration file as lines, with where each table starts: enough to point a problem at its line and to
/// edit one `[[camera]]` or `[[user]]` block while every other byte of the file (comments included) stays.
///
/// TOMLKit parses values but keeps no positions, so the table headers are found here. Only the header forms
/// `[name]` and `[[name]]` are recognised; a file that writes cameras as inline tables cannot be edited by the
/// CLI, and says so (see ``blocks(of:count:)``).
struct ConfigDocument: Sendable {
    struct Header: Sendable, Hashable {
        var name: String
        var isArray: Bool
        /// 0-based.
        var line: Int
    }

    /// A top-level table and the sub-tables that belong to it (`[[camera]]` and its `[[camera.stream]]`s).
    struct Block: Sendable, Hashable {
        var name: String
        /// 0-based, the header line.
        var start: Int
        /// Exclusive: the next top-level header, less the blank and comment lines just before it (they are
        /// taken to describe what follows).
        var end: Int
    }

    private(set) var lines: [String]
    let headers: [Header]
    /// Whether the text ended with a line break (kept as it was).
    let endsWithNewline: Bool

    init(text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        self.endsWithNewline = text.hasSuffix("\n")
        if self.endsWithNewline { lines.removeLast() }
        self.lines = lines
        self.headers = lines.enumerated().compactMap { index, line in
            Self.header(in: line).map { Header(name: $0.0, isArray: $0.1, line: index) }
        }
    }

    var text: String { self.lines.joined(separator: "\n") + (self.endsWithNewline || self.lines.isEmpty ? "\n" : "") }

    /// `[server]` → ("server", false); `[[camera.stream]]` → ("camera.stream", true); other lines nil.
    static func header(in line: String) -> (String, Bool)? {
        var text = Substring(line).drop { $0 == " " || $0 == "\t" }
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        let isArray = text.hasPrefix("[[") && text.hasSuffix("]]")
        guard isArray || (text.hasPrefix("[") && text.hasSuffix("]")) else { return nil }
        let name = text.dropFirst(isArray ? 2 : 1).dropLast(isArray ? 2 : 1).filter { $0 != " " && $0 != "\t" }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }) else { return nil }
        return (String(name), isArray)
    }

    /// 1-based line of `[name]`, for problems.
    func line(ofTable name: String) -> Int? {
        self.headers.first { $0.name == name && !$0.isArray }.map { $0.line + 1 }
    }

    /// 1-based line of the `index`-th `[[name]]`.
    func line(ofArrayTable name: String, index: Int) -> Int? {
        let matching = self.headers.filter { $0.name == name && $0.isArray }
        return index < matching.count ? matching[index].line + 1 : nil
    }

    /// The `[[name]]` blocks in order, when there are exactly `count` of them (the parsed array's length);
    /// nil when the file spells some of them in a form this scanner does not edit.
    func blocks(of name: String, count: Int) -> [Block]? {
        let topLevel = self.headers.filter { !$0.name.hasPrefix(name + ".") || !$0.isArray }
        let starts = self.headers.filter { $0.name == name && $0.isArray }
        guard starts.count == count else { return nil }
        return starts.map { header in
            let next =
                topLevel.first { $0.line > header.line && !($0.name.hasPrefix(name + ".")) }?.line ?? self.lines.count
            var end = next
            while end > header.line + 1, Self.isBlankOrComment(self.lines[end - 1]) { end -= 1 }
            return Block(name: name, start: header.line, end: end)
        }
    }

    static func isBlankOrComment(_ line: String) -> Bool {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        return trimmed.isEmpty || trimmed.hasPrefix("#")
    }

    // MARK: Edits

    /// Appends a block at the end, after one blank line.
    mutating func append(_ block: [String]) {
        while let last = self.lines.last, last.allSatisfy({ $0 == " " || $0 == "\t" }) { self.lines.removeLast() }
        if !self.lines.isEmpty { self.lines.append("") }
        self.lines += block
    }

    /// Removes a block and one blank line before it.
    mutating func remove(_ block: Block) {
        var start = block.start
        if start > 0, self.lines[start - 1].allSatisfy({ $0 == " " || $0 == "\t" }) { start -= 1 }
        self.lines.removeSubrange(start..<block.end)
    }

    mutating func replace(_ block: Block, with lines: [String]) {
        self.lines.replaceSubrange(block.start..<block.end, with: lines)
    }
}
