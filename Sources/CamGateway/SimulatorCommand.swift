import ArgumentParser
import CameraSimulator
import Foundation
import ServiceLifecycle

/// `camgw simulator`: the camera simulator on its own, for load tests and appliance tests that need a camera in
/// another process or network namespace.
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Run the camera simulator alone (test support)."
    )

    @Option(help: "Address to listen on.")
    var listen = "127.0.0.1"

    @Option(help: "RTSP port (0 picks a free one and prints it).")
    var port = 8555

    @Option(help: "Stream path.")
    var path = "/Streaming/Channels/101"

    @Option(help: "Require this user (Digest MD5 challenge).")
    var user: String?

    @Option(help: "File holding the password for --user (never on the command line).")
    var passwordFile: String?

    @Option(help: "Tracks, comma-separated, in SDP order: h264 or h265, then any of aac, pcma, pcmu, metadata.")
    var media = "h264"

    @Option(help: "Offer an ONVIF backchannel in this audio codec (pcmu, pcma or aac).")
    var backchannel: String?

    @Option(help: "Also answer ONVIF as the demo camera does, on this port (0: a free one, printed); same user.")
    var onvifPort: Int?

    @Option(help: "Be a recorder (NVR) with this many channels, each with a main and a sub stream; --path is unused.")
    var recorderChannels: Int?

    @Option(help: "The recorder's stream paths: hikvision (/Streaming/Channels/101) or dahua (channel=1&subtype=0).")
    var recorderStyle = "hikvision"

    @Flag(help: "Log at debug level.")
    var verbose = false

    func validate() throws {
        if (self.user == nil) != (self.passwordFile == nil) {
            throw ValidationError("--user and --password-file go together")
        }
        _ = try self.codecs()
        if let channels = self.recorderChannels, !(1...256).contains(channels) {
            throw ValidationError("--recorder-channels must be 1–256")
        }
        guard CameraSimulator.Recorder.Style(rawValue: self.recorderStyle) != nil else {
            throw ValidationError("--recorder-style must be hikvision or dahua")
        }
    }

    private func codecs() throws -> (media: [MediaClip.Codec], backchannel: MediaClip.Codec?) {
        func codec(_ name: some StringProtocol) throws -> MediaClip.Codec {
            guard let codec = MediaClip.Codec(rawValue: name.lowercased()) else {
                let known = MediaClip.Codec.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("unknown codec '\(name)'; known: \(known)")
            }
            return codec
        }
        let media = try self.media.split(separator: ",").map(codec)
        guard !media.isEmpty else { throw ValidationError("--media needs at least one codec") }
        let backchannel = try self.backchannel.map(codec)
        if let backchannel, ![.pcmu, .pcma, .aac].contains(backchannel) {
            throw ValidationError("--backchannel must be an audio codec: pcmu, pcma or aac")
        }
        return (media, backchannel)
    }

    func run() async throws {
        let logger = bootstrapLogging(verbose: self.verbose)
        var configuration = CameraSimulator.Configuration()
        configuration.host = self.listen
        configuration.port = self.port
        configuration.path = self.path
        if let channels = self.recorderChannels,
            let style = CameraSimulator.Recorder.Style(rawValue: self.recorderStyle)
        {
            let recorder = CameraSimulator.Recorder(channels: channels, style: style)
            configuration.recorder = recorder
            configuration.path = recorder.path(channel: 1, stream: 1)
        }
        (configuration.media, configuration.backchannel) = try self.codecs()
        if let user = self.user, let passwordFile = self.passwordFile {
            let password = try String(contentsOfFile: passwordFile, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            configuration.credentials = .init(username: user, password: password)
        }
        let simulator = try CameraSimulator(configuration: configuration, logger: logger)
        var services: [any Service] = []
        if let onvifPort = self.onvifPort {
            // The demo camera's ONVIF answers, pointing at this simulator's stream, for tests that need a camera's
            // ONVIF side as a process (inside a network namespace).
            let host = self.listen == "0.0.0.0" ? "127.0.0.1" : self.listen
            let path = self.path
            var onvif =
                configuration.recorder.map {
                    ONVIFCameraSimulator.Configuration.recorder($0, rtspBase: "rtsp://\(host):\(self.port)")
                } ?? .demo(rtspURL: "rtsp://\(host):\(self.port)\(path)")
            onvif.host = self.listen
            onvif.port = onvifPort
            if let credentials = configuration.credentials {
                onvif.username = credentials.username
                onvif.password = credentials.password
            }
            let onvifSimulator = ONVIFCameraSimulator(configuration: onvif)
            try await onvifSimulator.start()
            printFlushed("onvif simulator: http://\(host):\(onvifSimulator.port)/onvif/device_service")
            services.append(ONVIFSimulatorService(simulator: onvifSimulator))
        }
        services.append(AnnouncedService(simulator: simulator) { printFlushed("simulator: \($0.url)") })
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }
}
