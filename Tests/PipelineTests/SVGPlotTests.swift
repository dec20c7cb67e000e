// SVGPlot read back as XML: every point has its marker in its series' group (connected or not), error bars
// are drawn where given, a method's style is the same in every plot, names are escaped, degenerate plots
// are still well-formed, and every legend label lies inside the picture however many and long the names.

import XCTest
import Foundation
@testable import Plots
#if canImport(FoundationXML)
import FoundationXML
#endif


final class SVGPlotTests: XCTestCase {
    /// What a test needs from a rendered plot, read with XMLParser.
    final class Reading: NSObject, XMLParserDelegate {
        var viewBox: [Double] = []
        var markers: [String: Int] = [:], errorBars: [String: Int] = [:]
        /// Marker element names per series (circle, rect, polygon, path).
        var markerShapes: [String: Set<String>] = [:]
        var seriesOrder: [String] = []
        var legendLabels: [(x: Double, y: Double, text: String)] = []
        private var series: String?, inLegend = false, label: (x: Double, y: Double)?, text = ""

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes a: [String: String] = [:]) {
            if name == "svg" { viewBox = (a["viewBox"] ?? "").split(separator: " ").compactMap { Double($0) } }
            if name == "g", let s = a["data-series"] { series = s; seriesOrder.append(s) }
            if name == "g", a["class"] == "legend" { inLegend = true }
            if let s = series, a["class"] == "marker" { markers[s, default: 0] += 1; markerShapes[s, default: []].insert(name) }
            if let s = series, a["class"] == "error-bar" { errorBars[s, default: 0] += 1 }
            if name == "text", inLegend { label = (Double(a["x"] ?? "") ?? .nan, Double(a["y"] ?? "") ?? .nan); text = "" }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if label != nil { text += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "g" { series = nil; inLegend = false }
            if name == "text", let l = label { legendLabels.append((l.x, l.y, text)); label = nil }
        }
    }

    func read(_ plot: SVGPlot, file: StaticString = #filePath, line: UInt = #line) -> Reading {
        let parser = XMLParser(data: Data(plot.render().utf8))
        let reading = Reading()
        parser.delegate = reading
        XCTAssertTrue(parser.parse(), "not well-formed: \(String(describing: parser.parserError))", file: file, line: line)
        XCTAssertEqual(reading.viewBox.count, 4, "viewBox", file: file, line: line)
        return reading
    }

    func samplePlot() -> SVGPlot {
        var plot = SVGPlot(title: "accuracy", xLabel: "ratio", yLabel: "%", xScale: .log2)
        plot.series.append(.init(name: "AECNN", points: [(2, 90), (4, 89), (8, 85)]))
        plot.series.append(.init(name: "scatter", points: [(2, 80), (16, 70), (4, 75), (8, 72)], connect: false))
        plot.series.append(.init(name: "BottleNet++", points: [(32, 60)], style: SVGPlot.style(forMethod: "BottleNet++")))
        plot.references = [("base model", 91)]
        return plot
    }

    func testEveryPointHasOneMarkerInItsSeriesGroup() {
        let plot = samplePlot()
        let r = read(plot)
        XCTAssertEqual(r.seriesOrder, plot.series.map(\.name))
        for s in plot.series { XCTAssertEqual(r.markers[s.name], s.points.count, s.name) }
        // Unconnected series draw no line but all markers.
        XCTAssertEqual(r.markers["scatter"], 4)
        XCTAssertFalse(plot.render().components(separatedBy: "<g data-series=\"scatter\">")[1].components(separatedBy: "</g>")[0].contains("<polyline"))
    }

    func testEveryMarkerShapeIsCountedOncePerPoint() {
        var plot = SVGPlot(title: "markers", xLabel: "x", yLabel: "y")
        for (k, m) in SVGPlot.Marker.allCases.enumerated() {
            plot.series.append(.init(name: m.rawValue, points: (0..<5).map { (Double($0), Double(k + $0)) },
                                     style: .init(colour: "#000000", marker: m, dashed: k % 2 == 0)))
        }
        let r = read(plot)
        for m in SVGPlot.Marker.allCases { XCTAssertEqual(r.markers[m.rawValue], 5, m.rawValue) }
        XCTAssertEqual(r.markerShapes["cross"], ["path"])
        XCTAssertEqual(r.markerShapes["circle"], ["circle"])
    }

    func testPointsOutsideTheScaleDrawNoMarker() {
        var plot = SVGPlot(title: "log", xLabel: "x", yLabel: "y", xScale: .log10)
        plot.series.append(.init(name: "s", points: [(0, 1), (-1, 2), (.nan, 3), (10, .infinity), (10, 4), (100, 5)], errors: [1, 1, 1, 1, 1, 1]))
        let r = read(plot)
        XCTAssertEqual(r.markers["s"], 2)
        XCTAssertEqual(r.errorBars["s"], 2)
    }

    func testMethodStylesAreTheSameInEveryPlot() {
        var a = SVGPlot(title: "a", xLabel: "x", yLabel: "y")
        var b = SVGPlot(title: "b", xLabel: "x", yLabel: "y")
        a.series.append(.init(name: "first", points: [(1, 1)]))
        a.series.append(.init(name: "BottleNet++ bec", points: [(1, 2), (2, 3)], style: SVGPlot.style(forMethod: "BottleNet++")))
        b.series.append(.init(name: "BottleNet++ bec", points: [(5, 2)], style: SVGPlot.style(forMethod: "BottleNet++")))
        XCTAssertEqual(SVGPlot.style(forMethod: "BottleNet++"), SVGPlot.style(forMethod: "BottleNet++"))
        // The drawn colour is the style's in both plots although the series' index differs.
        let colour = SVGPlot.style(forMethod: "BottleNet++").colour
        for svg in [a.render(), b.render()] {
            let group = svg.components(separatedBy: "<g data-series=\"BottleNet++ bec\">")[1].components(separatedBy: "</g>")[0]
            XCTAssertTrue(group.contains("fill=\"\(colour)\""), group)
        }
    }

    func testMethodTableIsDistinctAndAECNNBitWidthsShareAFamily() {
        let names = ["CA_Pruned", "AECNN", "AECNN 8-bit", "AECNN 4-bit", "AECNN 2-bit", "AECNN 6-bit", "BottleNet++", "BottleNet", "references"]
        let styles = names.map(SVGPlot.style(forMethod:))
        for i in styles.indices { for j in styles.indices where j > i { XCTAssertNotEqual(styles[i], styles[j], "\(names[i]) / \(names[j])") } }
        let aecnn = names.indices.filter { names[$0].hasPrefix("AECNN") }.map { styles[$0] }
        XCTAssertEqual(Set(aecnn.map(\.marker.rawValue)).count, aecnn.count, "AECNN widths need distinct markers")
        XCTAssertEqual(SVGPlot.style(forMethod: "AECNN 6-bit"), SVGPlot.style(forMethod: "AECNN 3-bit"))
        // Unknown names: deterministic, spread over the fallback styles, never a table style.
        XCTAssertEqual(SVGPlot.style(forMethod: "some new method"), SVGPlot.style(forMethod: "some new method"))
        let unknown = (0..<200).map { SVGPlot.style(forMethod: "method \($0)") }
        XCTAssertGreaterThanOrEqual(Set(unknown.map(\.colour)).count, 12)
        XCTAssertEqual(Set(unknown.map(\.marker)).count, SVGPlot.Marker.allCases.count)
        for u in unknown { XCTAssertFalse(styles.contains(u)) }
        var distinct: [String: Int] = [:]
        for u in unknown { distinct["\(u.colour) \(u.marker) \(u.dashed)", default: 0] += 1 }
        XCTAssertGreaterThan(distinct.count, 100, "200 names should land on most of the 192 styles")
    }

    func testErrorBarsAreDrawnForPointsWithErrors() {
        var plot = SVGPlot(title: "e", xLabel: "x", yLabel: "y")
        plot.series.append(.init(name: "with", points: [(1, 10), (2, 11), (3, 12), (4, 13)], errors: [0.5, 0, .nan, 2]))
        plot.series.append(.init(name: "without", points: [(1, 5), (2, 6)]))
        plot.series.append(.init(name: "short", points: [(1, 7), (2, 8), (3, 9)], errors: [1]))
        let r = read(plot)
        XCTAssertEqual(r.errorBars["with"], 2)
        XCTAssertNil(r.errorBars["without"])
        XCTAssertEqual(r.errorBars["short"], 1)
        XCTAssertEqual(r.markers["with"], 4)
    }

    func testErrorBarsWidenTheYAxis() {
        var plot = SVGPlot(title: "e", xLabel: "x", yLabel: "y")
        plot.series.append(.init(name: "s", points: [(1, 10), (2, 11)], errors: [50, 50]))
        // A tick at or below -40 exists only if the bars were taken into the y range.
        let ticks = plot.render().components(separatedBy: "text-anchor=\"end\">").dropFirst().compactMap { Int($0.prefix { $0 != "<" }) }
        XCTAssertLessThanOrEqual(ticks.min() ?? 0, -30)
        XCTAssertGreaterThanOrEqual(ticks.max() ?? 0, 50)
    }

    func testNamesAreEscaped() {
        var plot = SVGPlot(title: "a <b> & \"c\"", xLabel: "x < y", yLabel: "p & q")
        let name = "BottleNet <q&a> \"quoted\" 'single'"
        plot.series.append(.init(name: name, points: [(1, 1), (2, 2)]))
        plot.references = [("<ref & co>", 1.5)]
        let r = read(plot)
        XCTAssertEqual(r.seriesOrder, [name])
        XCTAssertEqual(r.markers[name], 2)
        XCTAssertEqual(r.legendLabels.map(\.text).joined().filter { $0 != " " }, name.filter { $0 != " " })
        let svg = plot.render()
        XCTAssertFalse(svg.contains("<q&a>"))
        XCTAssertTrue(svg.contains("&lt;q&amp;a&gt;"))
    }

    func testEmptySeriesAndEmptyPlotsAreWellFormed() {
        let empty = SVGPlot(title: "nothing", xLabel: "x", yLabel: "y")
        XCTAssertTrue(read(empty).legendLabels.isEmpty)
        var noPoints = SVGPlot(title: "no points", xLabel: "x", yLabel: "y", xScale: .log2)
        noPoints.series.append(.init(name: "empty", points: []))
        noPoints.series.append(.init(name: "all invalid", points: [(0, 1), (.nan, .nan)], errors: [1, 1]))
        let r = read(noPoints)
        XCTAssertEqual(r.seriesOrder, ["empty", "all invalid"])
        XCTAssertNil(r.markers["empty"])
        XCTAssertEqual(r.legendLabels.count, 2)
        var onePoint = SVGPlot(title: "one", xLabel: "x", yLabel: "y")
        onePoint.series.append(.init(name: "one", points: [(3, 3)], errors: [0.1]))
        XCTAssertEqual(read(onePoint).markers["one"], 1)
        XCTAssertFalse(noPoints.render().contains("nan"))
        XCTAssertFalse(onePoint.render().contains("nan"))
    }

    /// Every legend label's anchor, and its estimated right edge, inside the viewBox.
    func assertLegendInside(_ r: Reading, entries: Int, file: StaticString = #filePath, line: UInt = #line) {
        let (w, h) = (r.viewBox[2], r.viewBox[3])
        XCTAssertGreaterThanOrEqual(r.legendLabels.count, entries, file: file, line: line)
        for l in r.legendLabels {
            XCTAssertTrue(l.x >= 0 && l.x + SVGPlot.textWidth(l.text) <= w, "x \(l.x) + \(SVGPlot.textWidth(l.text)) outside width \(w): \(l.text)", file: file, line: line)
            XCTAssertTrue(l.y - 12 >= 0 && l.y + 4 <= h, "y \(l.y) outside height \(h): \(l.text)", file: file, line: line)
        }
    }

    func testThirtyLongNamesAllFitInTheLegend() {
        var plot = SVGPlot(title: "training", xLabel: "epoch", yLabel: "accuracy")
        var names: [String] = []
        for k in 0..<30 {
            let name = "fine-tune split stem ratio \(k) variant W" + String(repeating: "m", count: 3 - String(k).count)
            XCTAssertEqual(name.count, 40)
            names.append(name)
            plot.series.append(.init(name: name, points: (1...5).map { (Double($0), Double(50 + k + $0)) }))
        }
        let r = read(plot)
        assertLegendInside(r, entries: 30)
        // Wrapped lines put back together give every name in full (line breaks drop only spaces).
        XCTAssertEqual(r.legendLabels.map(\.text).joined().filter { $0 != " " }, names.joined().filter { $0 != " " })
        // Unbroken names longer than a legend line are broken, and still fit.
        var long = SVGPlot(title: "long", xLabel: "x", yLabel: "y")
        long.series.append(.init(name: String(repeating: "W", count: 120), points: [(1, 1)]))
        long.series.append(.init(name: "short", points: [(1, 2)]))
        let lr = read(long)
        assertLegendInside(lr, entries: 2)
        XCTAssertEqual(lr.legendLabels.map(\.text).joined(), String(repeating: "W", count: 120) + "short")
    }

    func testAFewShortNamesKeepTheLegendBesideThePlotAtTheGivenSize() {
        let r = read(samplePlot())
        XCTAssertEqual(r.viewBox, [0, 0, 760, 480])
        assertLegendInside(r, entries: 3)
        XCTAssertTrue(r.legendLabels.allSatisfy { $0.x > 760 - 200 })
    }

    func testWrapBreaksAtSpacesAndKeepsEveryCharacter() {
        let lines = SVGPlot.wrap("AECNN 4-bit arith-context, split stem ratio 16, variant with recovery", maxWidth: 120)
        XCTAssertGreaterThan(lines.count, 1)
        for l in lines { XCTAssertLessThanOrEqual(SVGPlot.textWidth(l), 120, l) }
        XCTAssertEqual(lines.joined(separator: " ").replacingOccurrences(of: " ", with: ""),
                       "AECNN 4-bit arith-context, split stem ratio 16, variant with recovery".replacingOccurrences(of: " ", with: ""))
    }
}
