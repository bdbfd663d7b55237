import Foundation
import Logging
import TestSupport
import Testing

@testable import CamGateway

/// The decoys' protocol pieces: a DNS query read and answered (NXDOMAIN, or the gateway in learn mode), hostile
/// queries refused, NTP answered from our clock; DNS over TCP answered on the same port as UDP.
@Suite struct DecoyProtocolTests {
    static func query(_ name: String, type: UInt16 = 1, id: UInt16 = 0x1234) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") { bytes += [UInt8(label.utf8.count)] + Array(label.utf8) }
        return bytes + [0, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
    }

    @Test func nxdomainAndLearnMode() throws {
        let query = try DNSQuery.parse(Self.query("Dev.Hik-Connect.com"))
        #expect(query.name == "dev.hik-connect.com")
        let nx = query.answer()
        #expect(Array(nx[0...1]) == [0x12, 0x34])
        #expect(nx[2] & 0x80 != 0, "a response")
        #expect(nx[3] & 0x0F == 3, "NXDOMAIN")
        #expect(Array(nx[12...]) == query.question)
        let learn = query.answer(address: [192, 0, 2, 1])
        #expect(learn[3] & 0x0F == 0)
        #expect(learn[7] == 1, "one answer")
        #expect(Array(learn.suffix(4)) == [192, 0, 2, 1])
        // AAAA in learn mode: no address of that family, so NXDOMAIN.
        #expect(try DNSQuery.parse(Self.query("x.example", type: 28)).answer(address: [192, 0, 2, 1])[3] & 0x0F == 3)
    }

    @Test func hostileQueriesAreRefused() {
        #expect(throws: DNSQuery.Failure.tooShort) { try DNSQuery.parse([0, 1, 2]) }
        var response = Self.query("a.example")
        response[2] |= 0x80
        #expect(throws: DNSQuery.Failure.notAQuery) { try DNSQuery.parse(response) }
        var pointer = Array(Self.query("a.example").prefix(12))
        pointer += [0xC0, 0x0C, 0, 1, 0, 1]
        #expect(throws: DNSQuery.Failure.badName) { try DNSQuery.parse(pointer) }
        let long = Self.query(Array(repeating: String(repeating: "a", count: 63), count: 5).joined(separator: "."))
        #expect(throws: DNSQuery.Failure.badName) { try DNSQuery.parse(long) }
    }

    @Test func ntpAnswersClientRequestsOnly() throws {
        var request = [UInt8](repeating: 0, count: 48)
        request[0] = 0x23  // version 4, client
        request[40..<48] = [1, 2, 3, 4, 5, 6, 7, 8]
        let now = 1_800_000_000.5
        let answer = try #require(NTPAnswer.answer(to: request, now: now))
        #expect(answer[0] == 0x24)
        #expect(Array(answer[24..<32]) == [1, 2, 3, 4, 5, 6, 7, 8], "origin = the client's transmit time")
        let seconds = answer[40..<44].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(seconds == 1_800_000_000 + 2_208_988_800)
        var server = request
        server[0] = 0x24
        #expect(NTPAnswer.answer(to: server, now: now) == nil, "a server packet is not answered (no reflection)")
        #expect(NTPAnswer.answer(to: [0x23], now: now) == nil)
    }

    /// A resolver that falls back to TCP (a truncated answer, or one that always uses it) meets the decoy there too:
    /// two queries on one connection, each answered and recorded; a message that is not a query ends it.
    @Test func dnsOverTCP() async throws {
        let decoys = DecoyServer(logger: Logger(label: "test"))
        let ports = try await decoys.start(address: "127.0.0.1", learn: false, dnsPort: 0, ntpPort: 0)
        let client = try await ExternalTool.run(
            "python3",
            [
                ExternalTool.peerScript("dns_query.py"), "tcp", "127.0.0.1", String(ports.dns), "dev.hik-connect.com",
                "www.easy4ipcloud.com", "--garbage",
            ],
            timeout: 20
        )
        await decoys.stop()
        #expect(
            client.stdout.split(separator: "\n") == ["127.0.0.1 3 True", "127.0.0.1 3 True", "closed"],
            "\(client.stdout) \(client.stderr)"
        )
        #expect(
            decoys.records["127.0.0.1"]?.map(\.name) == ["dev.hik-connect.com", "www.easy4ipcloud.com"]
        )
    }
}
