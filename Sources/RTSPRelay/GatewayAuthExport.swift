// The authentication core is its own target so that ONVIF reaches it without the relay; everything that speaks
// RTSP needs it too, so importing RTSPRelay brings it.
@_exported import GatewayAuth
