import Foundation
import ONVIF
import TestSupport
import Testing

/// WS-Discovery on the VMS side only: a VMS (the wsdiscovery package's client) finds each virtual device with the
/// gateway's address; the same probe from the camera network gets no answer. Three namespaces the test makes, on
/// documentation addresses that exist only inside them.
@Suite(
    .enabled(if: NetworkNamespace.isAvailable, "needs root and iproute2 for network namespaces"),
    .enabled(if: ExternalTool.peerPython != nil, "needs .build-venv with wsdiscovery: run scripts/test.sh")
)
struct VMSDiscoveryTests {
    struct Found: Decodable {
        var epr: String
        var xaddrs: [String]
        var scopes: [String]
    }

    @Test func answersTheVMSNetworkOnly() async throws {
        let gateway = try await NetworkNamespace.create()
        let vms = try await NetworkNamespace.create()
        let camera = try await NetworkNamespace.create()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try await gateway.link(address: "198.51.100.1/24", to: vms, address: "198.51.100.10/24")
            try await gateway.link(address: "192.0.2.1/24", to: camera, address: "192.0.2.10/24", multicastRoute: false)
            let config = directory.appendingPathComponent("gateway.toml")
            try """
            [server]
            listen = "198.51.100.1"
            port = 0
            allow_anonymous = true

            [admin]
            socket = "control.sock"
            metrics_port = 0

            [onvif]
            discovery_interface = "198.51.100.1"

            [[camera]]
            name = "lobby"
            address = "192.0.2.10"
            gateway_onvif_port = 8001

              [[camera.stream]]
              name = "main"
              path = "/Streaming/Channels/101"
            """.write(to: config, atomically: true, encoding: .utf8)
            // A listener on the VMS network hears the device say Hello when it starts and Bye when it stops.
            async let announcements = vms.run(
                ExternalTool.peerPython!,
                [ExternalTool.peerScript("wsdiscovery_listen.py"), "--interface", "198.51.100.10", "--seconds", "12"],
                timeout: 30
            )
            try await Task.sleep(for: .milliseconds(500))
            let daemon = try GatewayProcess(arguments: ["run", "--config", config.path], namespace: gateway)
            _ = try await daemon.waitForOutput(matching: "onvif: http://198\\.51\\.100\\.1:8001/onvif/device_service")
            try await Task.sleep(for: .milliseconds(300))

            // Probes with Types that are not QNames (one of them once trapped the daemon, before its rate
            // limiter): each is dropped, and the daemon goes on answering.
            let hostile = try await vms.run(
                "python3",
                [ExternalTool.peerScript("wsdiscovery_hostile.py"), "probe", "--to", "198.51.100.1"],
                timeout: 20
            )
            #expect(hostile.stdout.contains("sent 8"), "\(hostile.stderr)")
            try await Task.sleep(for: .milliseconds(300))
            #expect(daemon.isRunning, "a Probe ended the daemon: \(daemon.stderr.suffix(2000))")

            let fromVMS = try await vms.run(
                ExternalTool.peerPython!,
                [ExternalTool.peerScript("wsdiscovery_search.py")],
                timeout: 30
            )
            #expect(fromVMS.status == 0, "\(fromVMS.stderr)")
            let found = try JSONDecoder().decode([Found].self, from: Data(fromVMS.stdout.utf8))
            let device = try #require(found.first, "\(fromVMS.stdout) \(daemon.stderr)")
            #expect(found.count == 1)
            #expect(device.xaddrs == ["http://198.51.100.1:8001/onvif/device_service"])
            #expect(device.epr == VirtualDevice(cameraName: "lobby").uuid)
            #expect(device.scopes.contains("onvif://www.onvif.org/name/lobby"))

            let fromCamera = try await camera.run(
                ExternalTool.peerPython!,
                [ExternalTool.peerScript("wsdiscovery_search.py")],
                timeout: 30
            )
            #expect(fromCamera.status == 0, "\(fromCamera.stderr)")
            #expect(
                try JSONDecoder().decode([Found].self, from: Data(fromCamera.stdout.utf8)).isEmpty,
                "the camera side got an answer"
            )
            _ = await daemon.terminate()
            struct Announcement: Decodable, Equatable {
                var action: String
                var endpoint: String?
            }
            let heard = try await announcements
            let decoded = try JSONDecoder().decode(
                [Announcement].self,
                from: Data((heard.stdout.split(separator: "\n").last ?? "[]").utf8)
            )
            let uuid = VirtualDevice(cameraName: "lobby").uuid
            #expect(
                decoded == [.init(action: "Hello", endpoint: uuid), .init(action: "Bye", endpoint: uuid)],
                "\(heard.stdout) \(heard.stderr)"
            )
        } catch {
            Issue.record(error)
        }
        for namespace in [gateway, vms, camera] { await namespace.delete() }
    }

    /// 40 virtual devices on one gateway: one ProbeMatches per device, each under 1,400 bytes (one datagram, no IP
    /// fragments), each with AppSequence (one InstanceId, message numbers that differ); the wsdiscovery client
    /// finds all 40.
    @Test func fortyDevicesOneDatagramEach() async throws {
        let gateway = try await NetworkNamespace.create()
        let vms = try await NetworkNamespace.create()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var daemon: GatewayProcess?
        do {
            try await gateway.link(address: "198.51.100.1/24", to: vms, address: "198.51.100.10/24")
            let config = directory.appendingPathComponent("gateway.toml")
            let cameras = (1...40).map { index in
                """

                [[camera]]
                name = "camera-\(index)"
                address = "192.0.2.\(index + 10)"
                on_demand = true
                gateway_onvif_port = \(8000 + index)

                  [[camera.stream]]
                  name = "main"
                  path = "/Streaming/Channels/101"

                """
            }.joined()
            try """
            [server]
            listen = "198.51.100.1"
            port = 0
            allow_anonymous = true

            [admin]
            socket = "control.sock"
            metrics_port = 0

            [onvif]
            discovery_interface = "198.51.100.1"
            \(cameras)
            """.write(to: config, atomically: true, encoding: .utf8)
            let process = try GatewayProcess(arguments: ["run", "--config", config.path], namespace: gateway)
            daemon = process
            _ = try await process.waitForOutput(matching: "onvif: http://198\\.51\\.100\\.1:8040/onvif/device_service")
            try await Task.sleep(for: .milliseconds(500))
            let collect = """
                import json, re, socket, struct, time, uuid
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("198.51.100.10", 0))
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("198.51.100.10"))
                probe = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
                         'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
                         'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
                         'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
                         '<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>'
                         '<a:MessageID>urn:uuid:%s</a:MessageID>'
                         '<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>'
                         '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>'
                         % uuid.uuid4())
                # Sent four times with one MessageID, as SOAP-over-UDP senders repeat it: one answer per device.
                for _ in range(4):
                    s.sendto(probe.encode(), ("239.255.255.250", 3702))
                    time.sleep(0.1)
                s.settimeout(0.3)
                end = time.time() + 2
                answers = []
                while time.time() < end:
                    try:
                        data, _ = s.recvfrom(65536)
                    except socket.timeout:
                        continue
                    text = data.decode()
                    sequence = re.search(r'AppSequence[^>]*InstanceId="([0-9]+)"[^>]*MessageNumber="([0-9]+)"', text)
                    answers.append({
                        "size": len(data),
                        "matches": text.count("ProbeMatch>") // 2,
                        "endpoint": (re.search(r"urn:uuid:[0-9a-f-]{36}</[a-zA-Z0-9]+:Address>", text) or [""])[0],
                        "instance": sequence.group(1) if sequence else None,
                        "number": int(sequence.group(2)) if sequence else None,
                    })
                print(json.dumps(answers))
                """
            let collected = try await vms.run("python3", ["-c", collect], timeout: 20)
            struct Answer: Decodable {
                var size: Int
                var matches: Int
                var endpoint: String
                var instance: String?
                var number: Int?
            }
            let answers = try JSONDecoder().decode([Answer].self, from: Data(collected.stdout.utf8))
            #expect(answers.count == 40, "\(answers.count) datagrams: \(collected.stderr)")
            #expect(Set(answers.map(\.endpoint)).count == 40)
            #expect(answers.allSatisfy { $0.matches == 1 })
            let largest = answers.map(\.size).max() ?? 0
            print("40 devices: \(answers.count) ProbeMatches, largest \(largest) bytes")
            #expect(largest < 1400)
            #expect(Set(answers.compactMap(\.instance)).count == 1)
            #expect(Set(answers.compactMap(\.number)).count == 40, "message numbers must differ")
            try await Task.sleep(for: .seconds(1))
            let search = try await vms.run(
                ExternalTool.peerPython!,
                [ExternalTool.peerScript("wsdiscovery_search.py")],
                timeout: 30
            )
            let found = try JSONDecoder().decode([Found].self, from: Data(search.stdout.utf8))
            #expect(Set(found.map(\.epr)).count == 40, "wsdiscovery found \(found.count)")
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/onvif-util") {
                try await Task.sleep(for: .seconds(1))
                // libonvif's discovery (onvif-util -a): every device, by its name.
                let libonvif = try await vms.run("/usr/bin/onvif-util", ["-a"], timeout: 30)
                #expect(libonvif.stdout.contains("Found 40 cameras"), "\(libonvif.stdout.prefix(500))")
                let names = Set((1...40).filter { libonvif.stdout.contains("(camera-\($0) ") })
                #expect(names.count == 40, "libonvif listed \(names.count)")
            }
        } catch {
            Issue.record(error)
        }
        if let daemon { _ = await daemon.terminate() }
        await gateway.delete()
        await vms.delete()
    }
}
