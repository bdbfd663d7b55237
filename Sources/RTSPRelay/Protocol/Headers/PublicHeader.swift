/// The `Public` and `Allow` headers (RFC 2326 §12.28, §12.4): a comma-separated list of methods.
public enum RTSPMethodList {
    /// Parses the list; entries that are not tokens are ignored (cameras put odd spacing and casing in here) and
    /// at most 64 methods are kept.
    public static func parse(_ value: String) -> [RTSPMethod] {
        var methods: [RTSPMethod] = []
        for part in HeaderParameters.split(Substring(value), on: ",").prefix(64) {
            let name = part.uppercased()
            guard name.utf8.count <= 32, RTSPHeaders.isToken(name) else { continue }
            let method = RTSPMethod(name)
            if !methods.contains(method) { methods.append(method) }
        }
        return methods
    }

    public static func headerValue(_ methods: [RTSPMethod]) -> String {
        methods.map(\.rawValue).joined(separator: ", ")
    }
}
