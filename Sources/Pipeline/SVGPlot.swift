// A small SVG line/scatter plot writer for the comparison report: titled axes with ticks (linear, or
// log₂/log₁₀ on x), one colour and marker per series, a legend, optional horizontal reference lines.
// Plain SVG 1.1 with no scripts or external fonts, so it renders the same in a browser and in converters.

import Foundation

public struct SVGPlot {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var connect: Bool
        public init(name: String, points: [(x: Double, y: Double)], connect: Bool = true) {
            self.name = name; self.points = points; self.connect = connect
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
    public var width = 760.0, height = 480.0

    public init(title: String, xLabel: String, yLabel: String, xScale: Scale = .linear) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.xScale = xScale
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]

    func tx(_ x: Double) -> Double {
        switch xScale {
        case .linear: return x
        case .log2: return log2(max(x, 1e-300))
        case .log10: return log10(max(x, 1e-300))
        }
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
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

    public func render() -> String {
        let left = 70.0, right = 200.0, top = 40.0, bottom = 60.0
        let pw = width - left - right, ph = height - top - bottom
        let pts = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (xScale == .linear || $0.x > 0) }
        var xs = pts.map { tx($0.x) }, ys = pts.map(\.y) + references.map(\.y)
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
        var s = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
        <text x="\(left + pw / 2)" y="22" text-anchor="middle" font-size="15" font-weight="bold">\(Self.escape(title))</text>
        <rect x="\(left)" y="\(top)" width="\(pw)" height="\(ph)" fill="none" stroke="#333"/>

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
            s += "<line x1=\"\(x)\" y1=\"\(top)\" x2=\"\(x)\" y2=\"\(top + ph)\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(x)\" y=\"\(top + ph + 18)\" text-anchor=\"middle\">\(l)</text>\n"
        }
        for t in Self.niceTicks(y0, y1) {
            let y = py(t)
            s += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + pw)\" y2=\"\(y)\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(left - 8)\" y=\"\(y + 4)\" text-anchor=\"end\">\(Self.label(t))</text>\n"
        }
        s += "<text x=\"\(left + pw / 2)\" y=\"\(height - 18)\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        s += "<text transform=\"translate(18 \(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"
        for r in references {
            let y = py(r.y)
            s += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + pw)\" y2=\"\(y)\" stroke=\"#555\" stroke-dasharray=\"6 4\"/>\n"
            s += "<text x=\"\(left + pw - 4)\" y=\"\(y - 5)\" text-anchor=\"end\" fill=\"#555\">\(Self.escape(r.label))</text>\n"
        }
        // Series.
        for (k, series) in self.series.enumerated() {
            let color = Self.palette[k % Self.palette.count]
            s += "<g data-series=\"\(Self.escape(series.name))\">\n"
            let p = series.points.filter { $0.x.isFinite && $0.y.isFinite && (xScale == .linear || $0.x > 0) }.sorted { $0.x < $1.x }
            if series.connect && p.count > 1 {
                s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + p.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ") + "\"/>\n"
            }
            for q in p {
                switch k % 3 {
                case 0: s += "<circle cx=\"\(px(q.x))\" cy=\"\(py(q.y))\" r=\"4\" fill=\"\(color)\"/>\n"
                case 1: s += "<rect x=\"\(px(q.x) - 4)\" y=\"\(py(q.y) - 4)\" width=\"8\" height=\"8\" fill=\"\(color)\"/>\n"
                default:
                    let cx = px(q.x), cy = py(q.y)
                    s += "<polygon points=\"\(cx),\(cy - 5) \(cx + 5),\(cy + 4) \(cx - 5),\(cy + 4)\" fill=\"\(color)\"/>\n"
                }
            }
            s += "</g>\n"
            let ly = top + 10 + Double(k) * 20
            s += "<rect x=\"\(left + pw + 14)\" y=\"\(ly - 6)\" width=\"14\" height=\"4\" fill=\"\(color)\"/>\n"
            s += "<text x=\"\(left + pw + 34)\" y=\"\(ly)\">\(Self.escape(series.name))</text>\n"
        }
        s += "</svg>\n"
        return s
    }
}
