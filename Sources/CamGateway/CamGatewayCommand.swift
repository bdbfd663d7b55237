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
              camgw run --config /etc/camgw/gateway.toml
              camgw camera add lobby --address 192.0.2.10 --stream main=/Streaming/Channels/101
              camgw status
              camgw --generate-completion-script bash > /etc/bash_completion.d/camgw
              camgw simulator --port 8555 --user admin --password-file pw.txt
            """,
        subcommands: [
            RunCommand.self, CameraCommand.self, UserCommand.self, CheckCommand.self, StatusCommand.self,
            ReloadCommand.self, DiscoverCommand.self, FirewallCommand.self, EgressCommand.self, SimulatorCommand.self,
            HashPasswordCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )
}
