/// Writes a ``SessionDescription`` in the strict form RFC 8866 §5 orders (v, o, s, i, c, b, t, a; then per media
/// m, i, c, b, a), CRLF line endings. What it writes parses back to the same model.
public enum SDPWriter {
    public static func write(_ description: SessionDescription) -> String {
        var out = ""
        out.reserveCapacity(512)
        let o = description.origin
        out += "v=0\r\n"
        out += "o=\(o.username) \(o.sessionID) \(o.sessionVersion) \(o.networkType) \(o.addressType) \(o.address)\r\n"
        // s= must not be empty (RFC 8866 §5.3); a single space is the RFC's own placeholder.
        out += "s=\(description.sessionName.isEmpty ? " " : description.sessionName)\r\n"
        if let information = description.information { out += "i=\(information)\r\n" }
        if let c = description.connection { out += "c=\(c.networkType) \(c.addressType) \(c.address)\r\n" }
        for b in description.bandwidths { out += "b=\(b.type):\(b.kbps)\r\n" }
        out += "t=\(description.timing.start) \(description.timing.stop)\r\n"
        for a in description.attributes { out += self.line(a) }
        for m in description.media {
            let port = m.portCount.map { "\(m.port)/\($0)" } ?? "\(m.port)"
            out += "m=\(m.type) \(port) \(m.proto)" + m.formats.map { " " + $0 }.joined() + "\r\n"
            if let information = m.information { out += "i=\(information)\r\n" }
            if let c = m.connection { out += "c=\(c.networkType) \(c.addressType) \(c.address)\r\n" }
            for b in m.bandwidths { out += "b=\(b.type):\(b.kbps)\r\n" }
            for a in m.attributes { out += self.line(a) }
        }
        return out
    }

    private static func line(_ attribute: SessionDescription.Attribute) -> String {
        attribute.value.map { "a=\(attribute.name):\($0)\r\n" } ?? "a=\(attribute.name)\r\n"
    }
}
