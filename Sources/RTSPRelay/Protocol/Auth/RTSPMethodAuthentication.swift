// The authentication core takes methods as text (HTTP's POST as well as RTSP's DESCRIBE); RTSP code passes its
// own method type.
extension ClientAuthenticator {
    /// The `Authorization` value for an RTSP request, or `nil` before any challenge.
    public mutating func authorization(method: RTSPMethod, uri: String) -> String? {
        self.authorization(method: method.rawValue, uri: uri)
    }
}

extension DigestVerifier {
    public func verify(
        _ credentials: AuthenticationParameters,
        method: RTSPMethod,
        requestURI: String? = nil,
        acceptNonce: (_ nonce: String, _ count: String?) -> Bool,
        storedHA1: (String) -> String?
    ) -> String? {
        self.verify(
            credentials,
            method: method.rawValue,
            requestURI: requestURI,
            acceptNonce: acceptNonce,
            storedHA1: storedHA1
        )
    }
}
