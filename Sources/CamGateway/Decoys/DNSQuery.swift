/// The part of DNS (RFC 1035 §4) the decoy needs: read a query's question, write the answer. Cameras resolve their
/// cloud's name before they phone home; the decoy answers NXDOMAIN (or, in learn mode, the gateway's own address)
/// and remembers the name, which is how the admin learns where each camera wanted to go.
struct DNSQuery: Hashable, Sendable {
    var id: UInt16
    var flags: UInt16
    /// Lower-cased, dot-separated, without the trailing dot.
    var name: String
    var type: UInt16
    var qclass: UInt16
    /// The question section as sent (echoed in the answer).
    var question: [UInt8]

    enum Failure: Error, Equatable {
        case tooShort
        case notAQuery
        case badName
    }

    /// One question, no compression (a query has nothing to point back to), names of at most 255 bytes.
    static func parse(_ bytes: [UInt8]) throws(Failure) -> DNSQuery {
        guard bytes.count >= 12, bytes.count <= 512 else { throw .tooShort }
        let id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let flags = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        let questions = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        guard flags & 0x8000 == 0, flags & 0x7800 == 0, questions == 1 else { throw .notAQuery }
        var offset = 12
        var labels: [String] = []
        var length = 0
        while true {
            guard offset < bytes.count else { throw .tooShort }
            let count = Int(bytes[offset])
            offset += 1
            if count == 0 { break }
            guard count <= 63, offset + count <= bytes.count else { throw .badName }
            length += count + 1
            guard length <= 255 else { throw .badName }
            let label = bytes[offset..<(offset + count)]
            guard label.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ".") }) else { throw .badName }
            labels.append(String(decoding: label, as: UTF8.self).lowercased())
            offset += count
        }
        guard offset + 4 <= bytes.count else { throw .tooShort }
        let type = UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        let qclass = UInt16(bytes[offset + 2]) << 8 | UInt16(bytes[offset + 3])
        return DNSQuery(
            id: id,
            flags: flags,
            name: labels.joined(separator: "."),
            type: type,
            qclass: qclass,
            question: Array(bytes[12..<(offset + 4)])
        )
    }

    /// NXDOMAIN, or (`address` given, for an A question) one A record with a short TTL.
    func answer(address: [UInt8]? = nil) -> [UInt8] {
        let recursionDesired = self.flags & 0x0100
        let answering = address != nil && self.type == 1 && self.qclass == 1
        // QR, AA, RD as asked, RA; RCODE 0 or 3 (NXDOMAIN).
        let flags: UInt16 = 0x8400 | recursionDesired | 0x0080 | (answering ? 0 : 3)
        var out: [UInt8] = [
            UInt8(self.id >> 8), UInt8(self.id & 0xFF), UInt8(flags >> 8), UInt8(flags & 0xFF),
            0, 1, 0, answering ? 1 : 0, 0, 0, 0, 0,
        ]
        out += self.question
        if answering, let address {
            // Name: a pointer to the question's name at offset 12; A, IN, TTL 60, 4 bytes.
            out += [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4] + address
        }
        return out
    }
}

/// NTP (RFC 5905) server answers from the gateway's clock, so cameras keep their time without the internet.
enum NTPAnswer {
    /// A mode 4 (server) answer to a mode 3 (client) request of 48 bytes or more; nil for anything else.
    static func answer(to request: [UInt8], now: Double) -> [UInt8]? {
        guard request.count >= 48 else { return nil }
        let mode = request[0] & 0x07
        let version = (request[0] >> 3) & 0x07
        guard mode == 3, (1...4).contains(version) else { return nil }
        let stamp = self.timestamp(now)
        var out = [UInt8](repeating: 0, count: 48)
        out[0] = (version << 3) | 4  // LI 0, the client's version, server
        out[1] = 2  // stratum: the gateway syncs from somewhere better, or is the site's reference
        out[2] = request[2]  // poll
        out[3] = 0xEC  // precision about 2^-20 s
        out[12...15] = [UInt8(ascii: "L"), UInt8(ascii: "O"), UInt8(ascii: "C"), UInt8(ascii: "L")]
        out[16..<24] = stamp[...]  // reference
        out[24..<32] = request[40..<48]  // origin: the client's transmit time
        out[32..<40] = stamp[...]  // receive
        out[40..<48] = stamp[...]  // transmit
        return out
    }

    static func timestamp(_ unixSeconds: Double) -> [UInt8] {
        let seconds = UInt64(unixSeconds) + 2_208_988_800
        let fraction = UInt64((unixSeconds - unixSeconds.rounded(.down)) * 4_294_967_296)
        let value = (seconds << 32) | (fraction & 0xFFFF_FFFF)
        return (0..<8).map { UInt8((value >> (56 - 8 * $0)) & 0xFF) }
    }
}
