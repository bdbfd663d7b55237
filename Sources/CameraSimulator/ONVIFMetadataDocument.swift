import NIOCore

/// The metadata stream an ONVIF camera sends (ONVIF Streaming Specification §5.1.2.1): `tt:MetadataStream`
/// documents in RTP, split across packets, the marker on the last packet of each document.
enum ONVIFMetadataDocument {
    static func payloads(motion: Bool, sequence: Int, maxPayloadSize: Int = 1400) -> [RTPPayload] {
        var document = ByteBuffer(string: self.xml(motion: motion, sequence: sequence))
        var payloads: [RTPPayload] = []
        while document.readableBytes > 0 {
            let chunk = document.readSlice(length: min(maxPayloadSize, document.readableBytes))!
            payloads.append(RTPPayload(bytes: chunk, marker: document.readableBytes == 0))
        }
        return payloads
    }

    static func xml(motion: Bool, sequence: Int) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>\
        <tt:MetadataStream xmlns:tt="http://www.onvif.org/ver10/schema" \
        xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tns1="http://www.onvif.org/ver10/topics">\
        <tt:Event><wsnt:NotificationMessage>\
        <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">\
        tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic>\
        <wsnt:Message><tt:Message UtcTime="2026-01-01T00:00:0\(sequence % 10)Z" PropertyOperation="Changed">\
        <tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSource_1"/>\
        <tt:SimpleItem Name="Rule" Value="MyMotionDetectorRule"/></tt:Source>\
        <tt:Data><tt:SimpleItem Name="IsMotion" Value="\(motion)"/></tt:Data>\
        </tt:Message></wsnt:Message></wsnt:NotificationMessage></tt:Event></tt:MetadataStream>
        """
    }
}
