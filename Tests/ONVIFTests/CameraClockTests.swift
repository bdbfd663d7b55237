import Testing

@testable import ONVIF

/// The camera's GetSystemDateAndTime answer is read before the gateway signs in: a hostile camera chooses every
/// field. A year no calendar holds made an offset no `Int` could hold, and the log line converting it trapped.
@Suite struct CameraClockTests {
    static func utc(year: String, month: String = "6", hour: String = "12") throws -> XMLElement {
        let xml = """
            <tt:UTCDateTime xmlns:tt="http://www.onvif.org/ver10/schema"><tt:Time><tt:Hour>\(hour)</tt:Hour>\
            <tt:Minute>0</tt:Minute><tt:Second>0</tt:Second></tt:Time><tt:Date><tt:Year>\(year)</tt:Year>\
            <tt:Month>\(month)</tt:Month><tt:Day>3</tt:Day></tt:Date></tt:UTCDateTime>
            """
        return try HardenedXMLParser.parse(Array(xml.utf8), limits: .cameraResponse)
    }

    @Test func aPlausibleClockIsRead() throws {
        let date = try #require(ONVIFCameraClient.date(try Self.utc(year: "2026")))
        #expect(abs(date.timeIntervalSince1970 - 1_780_488_000) < 1)
    }

    @Test(arguments: ["300000000000", "9223372036854775807", "-5", "0", "10000", "1969"])
    func anImpossibleYearIsNoClock(_ year: String) throws {
        #expect(ONVIFCameraClient.date(try Self.utc(year: year)) == nil)
    }

    @Test func impossibleFieldsAreNoClock() throws {
        #expect(ONVIFCameraClient.date(try Self.utc(year: "2026", month: "13")) == nil)
        #expect(ONVIFCameraClient.date(try Self.utc(year: "2026", hour: "99999999999")) == nil)
    }
}
