import FuzzProperties

// libFuzzer entry point; the property lives in FuzzProperties so the test suite replays crashers through it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzProperties.payload(start, count)
    return 0
}
