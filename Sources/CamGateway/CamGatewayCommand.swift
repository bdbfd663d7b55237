import ArgumentParser

@main
struct CamGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camgw",
        abstract: "CamGateway: a hardened RTSP/ONVIF gateway between untrusted IP cameras and a VMS.",
        discussion: """
            With no arguments, camgw runs the demo: a built-in simulated camera streaming an H.264 test clip, \
            and prints the URL to open in ffplay or VLC.

            Examples:
              camgw                                  # the demo on rtsp://127.0.0.1:8554/demo/main
              camgw run --port 0                     # the demo on a free port
              camgw simulator --port 8555 --user admin --password-file pw.txt
            """,
        subcommands: [RunCommand.self, SimulatorCommand.self, HashPasswordCommand.self],
        defaultSubcommand: RunCommand.self
    )
}
