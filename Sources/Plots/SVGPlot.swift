// A small SVG line/scatter plot writer for the comparison report: titled axes with ticks (linear, or
// log₂/log₁₀ on x), a colour, marker and line style per series, optional y error bars, a legend, optional
// horizontal reference lines. A method keeps one style in every plot (`style(forMethod:)`), and the legend
// is laid out beside or below the plotting area with the picture grown to hold it, so no entry is cut off.
// Plain SVG 1.1 with no scripts or external fonts, so it renders the same in a browser and in converters.
// It does not measure text with a font: label widths are estimated from character classes (generously, for
// DejaVu Sans / Arial at 12 px).
//
// Structure a reader (or a test) can rely on: each series is one `<g data-series="NAME">` holding its line
// (`<polyline>`), error bars (`class="error-bar"`) and one element with `class="marker"` per drawn point;
// the legend is one `<g class="legend">` after all series.

import Foundation

public struct SVGPlot {
    /// The shape drawn at each point of a series.
    public enum Marker: String, CaseIterable, Sendable {
        case circle, square, triangle, triangleDown, diamond, pentagon, cross, plus
    }

    /// How one series is drawn: colour, marker, solid or dashed line.
    public struct SeriesStyle: Equatable, Sendable {
        /// An SVG colour, e.g. `#1f77b4`.
        public var colour: String
        public var marker: Marker
        /// Dashed connecting line (markers are always solid).
        public var dashed: Bool

        public init(colour: String, marker: Marker, dashed: Bool = false) {
            self.colour = colour; self.marker = marker; self.dashed = dashed
        }
    }

    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var connect: Bool
        /// Fixed style; `nil` takes the plot's palette by the series' index.
        public var style: SeriesStyle?
        /// Half-length of a vertical error bar at each point, in y units, aligned with `points`. A missing,
        /// non-finite, zero or negative entry draws no bar at that point.
        public var errors: [Double]?

        public init(name: String, points: [(x: Double, y: Double)], connect: Bool = true,
                    style: SeriesStyle? = nil, errors: [Double]? = nil) {
            self.name = name; self.points = points; self.connect = connect; self.style = style; self.errors = errors
        }
    }
    public enum Scale { case linear, log2, log10 }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xScale: Scale = .linear
    public var series: [Series] = []
    /// Horizontal reference lines (label, y).
    public var references: [(label: String, y: Double)] = []
    /// The picture's size before the legend is added: `render()` grows it where the legend needs room.
    public var width = 760.0, height = 480.0

    public init(title: String, xLabel: String, yLabel: String, xScale: Scale = .linear) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.xScale = xScale
    }

    // MARK: Styles

    /// Colours of series without a fixed style, by index.
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
    /// Markers of series without a fixed style, by index.
    static let indexMarkers: [Marker] = [.circle, .square, .triangle]

    /// The fixed styles of the methods the report compares. The AECNN family is blue throughout: the float
    /// model a solid circle, each coded bit width its own shade and marker.
    static let methodStyles: [String: SeriesStyle] = [
        "CA_Pruned": SeriesStyle(colour: "#2ca02c", marker: .square, dashed: true),
        "AECNN": SeriesStyle(colour: "#1f77b4", marker: .circle),
        "AECNN 8-bit": SeriesStyle(colour: "#08306b", marker: .diamond),
        "AECNN 4-bit": SeriesStyle(colour: "#2171b5", marker: .triangle),
        "AECNN 2-bit": SeriesStyle(colour: "#6baed6", marker: .pentagon),
        "BottleNet++": SeriesStyle(colour: "#d62728", marker: .square),
        "BottleNet": SeriesStyle(colour: "#ff7f0e", marker: .triangleDown),
        "references": SeriesStyle(colour: "#333333", marker: .cross, dashed: true),
    ]
    /// AECNN coded at a width other than 8, 4 or 2 bits.
    static let aecnnOtherBits = SeriesStyle(colour: "#4292c6", marker: .plus)
    /// Colours for names outside the table: none of them is a colour of the table, so an unknown method is
    /// never mistaken for a known one.
    static let fallbackColours = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
                                  "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3"]

    /// The style of a method, the same in every plot.
    ///
    /// Known names: "CA_Pruned", "AECNN", "AECNN 8-bit", "AECNN 4-bit", "AECNN 2-bit" (any other
    /// "AECNN N-bit" shares one further AECNN style), "BottleNet++", "BottleNet", "references". Any other
    /// name is hashed (FNV-1a of its UTF-8 bytes, so the same on every run and machine) onto 12 colours ×
    /// 8 markers × solid/dashed: two different names share a style with probability 1/192.
    /// - Parameter name: the method's name as the report shows it.
    public static func style(forMethod name: String) -> SeriesStyle {
        if let s = methodStyles[name] { return s }
        if name.hasPrefix("AECNN "), name.hasSuffix("-bit"),
           let bits = Int(name.dropFirst("AECNN ".count).dropLast("-bit".count)), bits > 0 {
            return aecnnOtherBits
        }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let colours = UInt64(fallbackColours.count), markers = UInt64(Marker.allCases.count)
        return SeriesStyle(colour: fallbackColours[Int(h % colours)],
                           marker: Marker.allCases[Int((h / colours) % markers)],
                           dashed: (h / colours / markers) % 2 == 1)
    }

    /// The style series `k` is drawn with.
    func resolvedStyle(_ k: Int) -> SeriesStyle {
        series[k].style ?? SeriesStyle(colour: Self.palette[k % Self.palette.count], marker: Self.indexMarkers[k % Self.indexMarkers.count])
    }

    // MARK: Text

    /// Escapes text for element content and for attribute values in double quotes; drops the control
    /// characters XML 1.0 does not allow.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(u)
            default:
                if u.value < 0x20 || (0xFFFE...0xFFFF).contains(u.value) { continue }
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// Font size of labels and legend entries, px.
    static let fontSize = 12.0

    /// An upper estimate of the width of `s` in px at `fontSize`, from character classes (em widths of
    /// DejaVu Sans, the widest of the fonts the SVG asks for, rounded up).
    static func textWidth(_ s: String, fontSize: Double = fontSize) -> Double {
        var em = 0.0
        for c in s.unicodeScalars {
            switch c {
            case "i", "j", "l", ".", ",", ":", ";", "'", "|", "!", "(", ")", "[", "]", "I", "J", " ", "f", "t", "r", "-", "/": em += 0.42
            case "m", "w", "M", "W", "@", "%", "&": em += 1.0
            case "A"..."Z", "#", "+", "=", "<", ">", "~", "_", "\"": em += 0.80
            default: em += c.value < 0x80 ? 0.64 : 1.0
            }
        }
        return em * fontSize
    }

    /// `s` broken into lines no wider than `maxWidth` (by `textWidth`): after spaces where possible, else
    /// after `-`, `_`, `/` or `,`, else anywhere.
    static func wrap(_ s: String, maxWidth: Double) -> [String] {
        if textWidth(s) <= maxWidth { return [s] }
        // Pieces that end at a break opportunity.
        var pieces: [String] = [], piece = ""
        for c in s {
            piece.append(c)
            if c == " " || c == "-" || c == "_" || c == "/" || c == "," { pieces.append(piece); piece = "" }
        }
        if !piece.isEmpty { pieces.append(piece) }
        var lines: [String] = [], line = ""
        func flush() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if !t.isEmpty { lines.append(t) }
            line = ""
        }
        for p in pieces {
            if textWidth((line + p).trimmingCharacters(in: .whitespaces)) <= maxWidth { line += p; continue }
            flush()
            if textWidth(p.trimmingCharacters(in: .whitespaces)) <= maxWidth { line = p; continue }
            for c in p {   // a piece wider than a line: break it anywhere
                if textWidth(line + String(c)) > maxWidth { flush() }
                line.append(c)
            }
        }
        flush()
        return lines.isEmpty ? [""] : lines
    }

    // MARK: Axes

    func tx(_ x: Double) -> Double {
        switch xScale {
        case .linear: return x
        case .log2: return log2(max(x, 1e-300))
        case .log10: return log10(max(x, 1e-300))
        }
    }

    static func niceTicks(_ lo: Double, _ hi: Double, count: Int = 6) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var t = ceil(lo / step) * step, out: [Double] = []
        while t <= hi + step * 1e-9 { out.append(t); t += step }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e7 { return String(Int(v)) }
        return String(format: "%g", v)
    }

    /// A coordinate with two decimals.
    static func f(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return r == r.rounded() && abs(r) < 1e9 ? String(Int(r)) : String(r)
    }

    /// The element drawing `marker` centred at (cx, cy), with a class attribute.
    static func markerElement(_ marker: Marker, _ cx: Double, _ cy: Double, colour: String, cls: String) -> String {
        func polygon(_ pts: [(Double, Double)]) -> String {
            "<polygon class=\"\(cls)\" points=\"" + pts.map { "\(f(cx + $0.0)),\(f(cy + $0.1))" }.joined(separator: " ") + "\" fill=\"\(colour)\"/>"
        }
        switch marker {
        case .circle: return "<circle class=\"\(cls)\" cx=\"\(f(cx))\" cy=\"\(f(cy))\" r=\"4\" fill=\"\(colour)\"/>"
        case .square: return "<rect class=\"\(cls)\" x=\"\(f(cx - 4))\" y=\"\(f(cy - 4))\" width=\"8\" height=\"8\" fill=\"\(colour)\"/>"
        case .triangle: return polygon([(0, -5), (5, 4), (-5, 4)])
        case .triangleDown: return polygon([(0, 5), (5, -4), (-5, -4)])
        case .diamond: return polygon([(0, -5.5), (5.5, 0), (0, 5.5), (-5.5, 0)])
        case .pentagon:
            return polygon((0..<5).map { i in
                let a = -Double.pi / 2 + Double(i) * 2 * Double.pi / 5
                return (5 * cos(a), 5 * sin(a))
            })
        case .cross:
            return "<path class=\"\(cls)\" d=\"M\(f(cx - 4)) \(f(cy - 4))L\(f(cx + 4)) \(f(cy + 4))M\(f(cx - 4)) \(f(cy + 4))L\(f(cx + 4)) \(f(cy - 4))\" stroke=\"\(colour)\" stroke-width=\"2\" fill=\"none\"/>"
        case .plus:
            return "<path class=\"\(cls)\" d=\"M\(f(cx - 5)) \(f(cy))L\(f(cx + 5)) \(f(cy))M\(f(cx)) \(f(cy - 5))L\(f(cx)) \(f(cy + 5))\" stroke=\"\(colour)\" stroke-width=\"2\" fill=\"none\"/>"
        }
    }

    // MARK: Legend layout

    /// Legend metrics, px: line height, gap between entries, swatch width before the label, widest label
    /// line before wrapping.
    static let legendLine = 15.0, legendGap = 5.0, legendSwatch = 32.0, legendMaxLabel = 300.0

    struct LegendEntry { var lines: [String]; var height: Double }

    /// Where the legend goes and how big the picture becomes.
    struct Layout {
        var width: Double, height: Double
        var plotWidth: Double, plotHeight: Double
        /// Top-left corner of each legend entry.
        var entryOrigins: [(x: Double, y: Double)]
    }

    static let left = 70.0, top = 40.0, bottom = 60.0, rightMargin = 200.0

    /// Beside the plot when the entries fit in one column down to the picture's bottom edge; otherwise
    /// below the x-axis label, in as many columns as the width holds, the picture grown downwards.
    func layout(_ entries: [LegendEntry]) -> Layout {
        let labelWidth = entries.flatMap(\.lines).map { Self.textWidth($0) }.max() ?? 0
        let columnWidth = Self.legendSwatch + labelWidth + 12
        let total = entries.reduce(0) { $0 + $1.height }
        let ph = max(height - Self.top - Self.bottom, 40)
        if total <= height - Self.top - 10 {
            let pw = max(width - Self.left - Self.rightMargin, 40)
            let x = Self.left + pw + 14
            var y = Self.top, origins: [(x: Double, y: Double)] = []
            for e in entries { origins.append((x, y)); y += e.height }
            return Layout(width: max(width, x + columnWidth + 8), height: height, plotWidth: pw, plotHeight: ph, entryOrigins: origins)
        }
        let pw = max(width - Self.left - 30, 40)
        let available = width - Self.left - 10
        let columns = max(1, Int(available / (columnWidth + 16)))
        var origins: [(x: Double, y: Double)] = [], y = height + 4
        for rowStart in stride(from: 0, to: entries.count, by: columns) {
            let row = entries[rowStart..<min(rowStart + columns, entries.count)]
            for (c, _) in row.enumerated() { origins.append((Self.left + Double(c) * (columnWidth + 16), y)) }
            y += row.map(\.height).max() ?? 0
        }
        let w = max(width, Self.left + Double(min(columns, entries.count)) * (columnWidth + 16))
        return Layout(width: w, height: y + 10, plotWidth: pw, plotHeight: ph, entryOrigins: origins)
    }

    // MARK: Rendering

    public func render() -> String {
        let left = Self.left, top = Self.top
        let entries = series.map { s -> LegendEntry in
            let lines = Self.wrap(s.name, maxWidth: Self.legendMaxLabel)
            return LegendEntry(lines: lines, height: Double(lines.count) * Self.legendLine + Self.legendGap)
        }
        let lay = layout(entries)
        let pw = lay.plotWidth, ph = lay.plotHeight
        let W = lay.width, H = lay.height

        func drawn(_ p: (x: Double, y: Double)) -> Bool { p.x.isFinite && p.y.isFinite && (xScale == .linear || p.x > 0) }
        func bar(_ s: Series, _ i: Int) -> Double? {
            guard let e = s.errors, i < e.count, e[i].isFinite, e[i] > 0 else { return nil }
            return e[i]
        }
        var xs: [Double] = [], ys = references.map(\.y).filter(\.isFinite)
        for s in series {
            for (i, p) in s.points.enumerated() where drawn(p) {
                xs.append(tx(p.x)); ys.append(p.y)
                if let e = bar(s, i) { ys += [p.y - e, p.y + e] }
            }
        }
        if xs.isEmpty { xs = [0, 1] }
        if ys.isEmpty { ys = [0, 1] }
        var x0 = xs.min()!, x1 = xs.max()!, y0 = ys.min()!, y1 = ys.max()!
        if x1 - x0 < 1e-9 { x0 -= 1; x1 += 1 }
        if y1 - y0 < 1e-9 { y0 -= 1; y1 += 1 }
        let xp = (x1 - x0) * 0.06, yp = (y1 - y0) * 0.08
        x0 -= xp; x1 += xp; y0 -= yp; y1 += yp
        func px(_ x: Double) -> Double { left + (tx(x) - x0) / (x1 - x0) * pw }
        func pxt(_ t: Double) -> Double { left + (t - x0) / (x1 - x0) * pw }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * ph }
        let f = Self.f
        var s = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(W.rounded(.up)))" height="\(Int(H.rounded(.up)))" viewBox="0 0 \(Int(W.rounded(.up))) \(Int(H.rounded(.up)))" font-family="DejaVu Sans, Arial, sans-serif" font-size="\(Int(Self.fontSize))">
        <rect x="0" y="0" width="\(Int(W.rounded(.up)))" height="\(Int(H.rounded(.up)))" fill="white"/>
        <text x="\(f(left + pw / 2))" y="22" text-anchor="middle" font-size="15" font-weight="bold">\(Self.escape(title))</text>
        <rect x="\(f(left))" y="\(f(top))" width="\(f(pw))" height="\(f(ph))" fill="none" stroke="#333"/>

        """
        // Ticks and grid.
        let xTicks: [(Double, String)]
        switch xScale {
        case .linear: xTicks = Self.niceTicks(x0, x1).map { ($0, Self.label($0)) }
        case .log2: xTicks = stride(from: ceil(x0), through: floor(x1), by: 1).map { ($0, Self.label(pow(2, $0))) }
        case .log10: xTicks = stride(from: ceil(x0), through: floor(x1), by: 1).map { ($0, Self.label(pow(10, $0))) }
        }
        for (t, l) in xTicks {
            let x = pxt(t)
            s += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + ph))\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(f(x))\" y=\"\(f(top + ph + 18))\" text-anchor=\"middle\">\(l)</text>\n"
        }
        for t in Self.niceTicks(y0, y1) {
            let y = py(t)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + pw))\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(Self.label(t))</text>\n"
        }
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(top + ph + Self.bottom - 18))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        s += "<text transform=\"translate(18 \(f(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"
        for r in references where r.y.isFinite {
            let y = py(r.y)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + pw))\" y2=\"\(f(y))\" stroke=\"#555\" stroke-dasharray=\"6 4\"/>\n"
            s += "<text x=\"\(f(left + pw - 4))\" y=\"\(f(y - 5))\" text-anchor=\"end\" fill=\"#555\">\(Self.escape(r.label))</text>\n"
        }
        // Series: line, error bars, markers.
        for (k, series) in self.series.enumerated() {
            let style = resolvedStyle(k)
            s += "<g data-series=\"\(Self.escape(series.name))\">\n"
            let p = series.points.indices.filter { drawn(series.points[$0]) }
                .map { (point: series.points[$0], error: bar(series, $0)) }
                .sorted { $0.point.x < $1.point.x }
            if series.connect && p.count > 1 {
                s += "<polyline fill=\"none\" stroke=\"\(style.colour)\" stroke-width=\"2\"" + (style.dashed ? " stroke-dasharray=\"7 4\"" : "")
                    + " points=\"" + p.map { "\(f(px($0.point.x))),\(f(py($0.point.y)))" }.joined(separator: " ") + "\"/>\n"
            }
            for q in p {
                guard let e = q.error else { continue }
                let x = px(q.point.x), lo = py(q.point.y - e), hi = py(q.point.y + e)
                s += "<path class=\"error-bar\" d=\"M\(f(x)) \(f(lo))L\(f(x)) \(f(hi))M\(f(x - 4)) \(f(lo))L\(f(x + 4)) \(f(lo))M\(f(x - 4)) \(f(hi))L\(f(x + 4)) \(f(hi))\" stroke=\"\(style.colour)\" stroke-width=\"1.2\" fill=\"none\"/>\n"
            }
            for q in p {
                s += Self.markerElement(style.marker, px(q.point.x), py(q.point.y), colour: style.colour, cls: "marker") + "\n"
            }
            s += "</g>\n"
        }
        // Legend: a line sample (for connected series) and the marker, then the name, wrapped.
        if !self.series.isEmpty {
            s += "<g class=\"legend\">\n"
            for (k, series) in self.series.enumerated() {
                let style = resolvedStyle(k), o = lay.entryOrigins[k]
                let mid = o.y + Self.legendLine / 2 + 1
                if series.connect {
                    s += "<line class=\"legend-line\" x1=\"\(f(o.x))\" y1=\"\(f(mid))\" x2=\"\(f(o.x + Self.legendSwatch - 8))\" y2=\"\(f(mid))\" stroke=\"\(style.colour)\" stroke-width=\"2\""
                        + (style.dashed ? " stroke-dasharray=\"7 4\"" : "") + "/>\n"
                }
                s += Self.markerElement(style.marker, o.x + (Self.legendSwatch - 8) / 2, mid, colour: style.colour, cls: "legend-marker") + "\n"
                for (i, line) in entries[k].lines.enumerated() {
                    s += "<text class=\"legend-label\" x=\"\(f(o.x + Self.legendSwatch))\" y=\"\(f(o.y + 12 + Double(i) * Self.legendLine))\">\(Self.escape(line))</text>\n"
                }
            }
            s += "</g>\n"
        }
        s += "</svg>\n"
        return s
    }
}
