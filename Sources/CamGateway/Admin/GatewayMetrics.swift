import Foundation
import Metrics
import NIOConcurrencyHelpers
import ONVIF
import Prometheus
import RTSPRelay

/// The Prometheus series of the gateway. Event counters (reloads) go through swift-metrics, bootstrapped onto
/// this registry; the data path's counters are read from the relay's statistics at scrape time instead, so that
/// forwarding a packet never touches an atomic.
final class GatewayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let state = NIOLockedValueBox(State())

    private struct State {
        /// Per series: the relay's value at the last scrape (a counter advances by the difference).
        var lastValues: [String: Int] = [:]
        var counters: [String: Prometheus.Counter] = [:]
        var gauges: [String: Prometheus.Gauge] = [:]
        /// Series of each stream, to drop them when the stream goes.
        var seriesByStream: [String: Set<String>] = [:]
        /// The egress series of the last push, to drop those of a camera that left.
        var egressSeries: Set<String> = []
    }

    init() {}

    /// Makes swift-metrics record into this registry (once per process).
    func bootstrap() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: self.registry))
    }

    /// The exposition text after bringing every series up to date with `stats` and the ONVIF call counts.
    func scrape(
        _ stats: RelayStats,
        onvif: [String: ONVIFDeviceProxy.Counts] = [:],
        dnsLookups: [String: Int] = [:],
        egress: (counts: [String: EgressReport.Counts], at: Date)? = nil,
        cameras: Int = 0,
        devices: [String: Int] = [:]
    ) -> String {
        self.state.withLockedValue { state in
            // Every kind is set on every scrape, so a kind the last reload removed reads 0, not its old count.
            _ = self.setGauge(&state, "camgw_cameras", [], Double(cameras))
            for kind in ["camera", "recorder"] {
                _ = self.setGauge(&state, "camgw_devices", [("kind", kind)], Double(devices[kind] ?? 0))
            }
            var present = Set<String>()
            for stream in stats.streams {
                let streamKey = stream.path.description
                present.insert(streamKey)
                let labels = [("camera", stream.path.camera), ("stream", stream.path.stream)]
                var series = Set<String>()
                func gauge(_ name: String, _ value: Int, _ extra: [(String, String)] = []) {
                    series.insert(self.setGauge(&state, name, labels + extra, Double(value)))
                }
                func counter(_ name: String, _ value: Int, _ extra: [(String, String)] = []) {
                    let key = Self.key(name, labels + extra)
                    series.insert(key)
                    Self.advance(&state, key: key, to: value) {
                        self.registry.makeCounter(descriptor: Self.descriptor(name), labels: labels + extra)
                    }
                }
                gauge("camgw_upstream_up", stream.upstreamUp ? 1 : 0)
                counter("camgw_upstream_reconnects_total", stream.reconnects)
                counter("camgw_packets_in_total", stream.packetsIn)
                counter("camgw_bytes_in_total", stream.bytesIn)
                counter("camgw_packets_out_total", stream.packetsOut)
                counter("camgw_bytes_out_total", stream.bytesOut)
                for (reason, count) in stream.dropped {
                    counter("camgw_packets_dropped_total", count, [("reason", reason.rawValue)])
                }
                counter("camgw_packets_dropped_total", stream.readerDrops, [("reason", "slow_reader")])
                gauge("camgw_readers", stream.readers.count)
                state.seriesByStream[streamKey] = series
            }
            // A stream the configuration no longer has: its series go with it.
            for (streamKey, series) in state.seriesByStream where !present.contains(streamKey) {
                for key in series {
                    if let counter = state.counters.removeValue(forKey: key) {
                        self.registry.unregisterCounter(counter)
                    }
                    if let gauge = state.gauges.removeValue(forKey: key) { self.registry.unregisterGauge(gauge) }
                    state.lastValues[key] = nil
                }
                state.seriesByStream[streamKey] = nil
            }
            for (camera, counts) in onvif {
                for (result, table) in [("allowed", counts.allowed), ("refused", counts.refused)] {
                    for (operation, count) in table {
                        let labels = [("camera", camera), ("operation", operation), ("result", result)]
                        Self.advance(&state, key: Self.key("camgw_onvif_calls_total", labels), to: count) {
                            self.registry.makeCounter(
                                descriptor: Self.descriptor("camgw_onvif_calls_total"),
                                labels: labels
                            )
                        }
                    }
                }
                let labels = [("camera", camera)]
                Self.advance(&state, key: Self.key("camgw_onvif_auth_failures_total", labels), to: counts.authFailures)
                {
                    self.registry.makeCounter(
                        descriptor: Self.descriptor("camgw_onvif_auth_failures_total"),
                        labels: labels
                    )
                }
            }
            for (camera, count) in dnsLookups {
                let labels = [("camera", camera)]
                Self.advance(&state, key: Self.key("camgw_decoy_dns_queries_total", labels), to: count) {
                    self.registry.makeCounter(
                        descriptor: Self.descriptor("camgw_decoy_dns_queries_total"),
                        labels: labels
                    )
                }
            }
            if let egress {
                // Gauges, not counters: they mirror the kernel's sets, which start again when the ruleset is
                // replaced and forget an attempt a week after it.
                var egressPresent = Set<String>()
                func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
                    egressPresent.insert(self.setGauge(&state, name, labels, value))
                }
                for (camera, counts) in egress.counts {
                    gauge("camgw_egress_destinations", [("camera", camera)], Double(counts.destinations))
                    gauge("camgw_egress_decoyed_connections", [("camera", camera)], Double(counts.decoyedConnections))
                    for (kind, packets) in counts.droppedPackets {
                        gauge("camgw_egress_dropped_packets", [("camera", camera), ("kind", kind)], Double(packets))
                    }
                }
                gauge("camgw_egress_counts_timestamp_seconds", [], egress.at.timeIntervalSince1970)
                for key in state.egressSeries.subtracting(egressPresent) {
                    if let gauge = state.gauges.removeValue(forKey: key) { self.registry.unregisterGauge(gauge) }
                }
                state.egressSeries = egressPresent
            }
            Self.advance(&state, key: "camgw_auth_failures_total", to: stats.authFailures) {
                self.registry.makeCounter(descriptor: Self.descriptor("camgw_auth_failures_total"))
            }
            return self.registry.emitToString()
        }
    }

    /// Sets the gauge of this name and labels, registering it the first time; returns its series key.
    private func setGauge(_ state: inout State, _ name: String, _ labels: [(String, String)], _ value: Double) -> String
    {
        let key = Self.key(name, labels)
        let gauge = state.gauges[key] ?? self.registry.makeGauge(descriptor: Self.descriptor(name), labels: labels)
        state.gauges[key] = gauge
        gauge.set(value)
        return key
    }

    private static func advance(_ state: inout State, key: String, to value: Int, make: () -> Prometheus.Counter) {
        let counter = state.counters[key] ?? make()
        state.counters[key] = counter
        let last = state.lastValues[key] ?? 0
        // A restarted stream counts from zero again; what it has counted since is what is new.
        let delta = value >= last ? value - last : value
        if delta > 0 { counter.increment(by: Int64(delta)) }
        state.lastValues[key] = value
    }

    static let help: [String: String] = [
        "camgw_cameras": "Gateway cameras configured (a recorder's channels each count).",
        "camgw_devices":
            "Devices the gateway pulls from, by kind: a camera, or a recorder (NVR) with all its channels.",
        "camgw_upstream_up": "1 while the camera session plays, 0 otherwise.",
        "camgw_upstream_reconnects_total": "Times the camera session was re-established after it ended.",
        "camgw_packets_in_total": "RTP and RTCP packets received from the camera.",
        "camgw_bytes_in_total": "Bytes received from the camera (RTP and RTCP).",
        "camgw_packets_out_total": "Packets written to readers (one per reader, or one per multicast group).",
        "camgw_bytes_out_total": "Bytes written to readers.",
        "camgw_packets_dropped_total": "Packets not forwarded, by reason (bad packets from the camera, slow readers).",
        "camgw_readers": "Readers playing the stream.",
        "camgw_auth_failures_total": "Failed VMS logins.",
        "camgw_onvif_calls_total": "ONVIF calls of the VMS by operation, allowed or refused by the camera's policy.",
        "camgw_onvif_auth_failures_total": "Failed VMS logins to a virtual ONVIF device.",
        "camgw_decoy_dns_queries_total": "DNS queries a camera sent (to any resolver), answered by the decoy.",
        "camgw_egress_destinations": "Distinct destinations the egress lock dropped from the camera (last week).",
        "camgw_egress_dropped_packets":
            "Packets the egress lock dropped from the camera, by kind: egress (layer 3), ipv6, vlan-tagged, ethertype X, arp-spoof, ip-spoof.",
        "camgw_egress_decoyed_connections": "Connections to DNS and NTP servers the decoys answered instead.",
        "camgw_egress_counts_timestamp_seconds": "When camgw egress --push last read the kernel's counts.",
    ]

    private static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: self.help[name] ?? "")
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }
}
