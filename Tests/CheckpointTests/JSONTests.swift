// The header/manifest JSON parser: order and duplicates kept, escapes, and strict rejection of bad input.

@testable import Checkpoint
import XCTest

final class JSONTests: XCTestCase {
    private func parse(_ s: String) throws -> JSONValue { try JSONParser.parse(Array(s.utf8)) }

    func testObjectOrderAndDuplicatesKept() throws {
        let v = try parse(#" {"z": 1, "a": [true, false, null], "z": "x"} "#)
        XCTAssertEqual(v.objectMembers?.map(\.key), ["z", "a", "z"])
        XCTAssertEqual(v["z"], .number("1"))
        XCTAssertEqual(v["a"], .array([.bool(true), .bool(false), .null]))
    }

    func testNumbers() throws {
        XCTAssertEqual(try parse("-12").intValue, -12)
        XCTAssertEqual(try parse("0").intValue, 0)
        XCTAssertNil(try parse("1.5").intValue)
        XCTAssertEqual(try parse("1.5e3").doubleValue, 1500)
        XCTAssertNil(try parse("99999999999999999999999").intValue, "overflow is not an Int")
        for bad in ["01", "-", "1.", ".5", "1e", "+1", "0x10", "NaN", "Infinity"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
    }

    func testStringsAndEscapes() throws {
        XCTAssertEqual(try parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#).stringValue, "a\"b\\c/d\n\té😀")
        XCTAssertEqual(try parse("\"héllo\"").stringValue, "héllo")
        for bad in [#""\ud800""#, #""\udc00x""#, #""\x""#, "\"a\nb\"", #""abc"#, #""\u12g4""#] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xFF, 0x22]), "invalid UTF-8")
        XCTAssertEqual(JSONWriter.quoted("a\"b\\\n\u{01}é"), #""a\"b\\\n\u0001é""#)
        XCTAssertEqual(try parse(JSONWriter.quoted("x\u{1F}\"\\\r\u{8}\u{C}😀")).stringValue, "x\u{1F}\"\\\r\u{8}\u{C}😀")
    }

    func testStructuralErrors() {
        for bad in ["", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "[1 2]", "{} {}", "tru", "nul"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
    }

    func testDepthLimitIsAnErrorNotACrash() throws {
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 60) + String(repeating: "]", count: 60)))
        XCTAssertThrowsError(try parse(String(repeating: "[", count: 100_000)))
        XCTAssertThrowsError(try parse(String(repeating: "{\"a\":", count: 100_000)))
    }
}
