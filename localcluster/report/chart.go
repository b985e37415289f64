package report

import (
	"fmt"
	"html/template"
	"os"
	"strings"
)

// chartColors are distinguishable on white, one per series.
var chartColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd"}

const chartW, chartH, pad = 800.0, 400.0, 50.0

var chartTmpl = template.Must(template.New("chart").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>localcluster: pods bound over time</title>
<style>body{font-family:sans-serif} svg text{font-size:12px}</style></head>
<body><h1>Pods bound over time</h1>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}">
<rect x="0" y="0" width="{{.W}}" height="{{.H}}" fill="white"/>
<line x1="{{.Pad}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}" stroke="black"/>
<line x1="{{.Pad}}" y1="{{.Pad}}" x2="{{.Pad}}" y2="{{.Bottom}}" stroke="black"/>
<text x="{{.Pad}}" y="{{.LabelY}}">0 s</text>
<text x="{{.Right}}" y="{{.LabelY}}" text-anchor="end">{{printf "%.1f" .MaxX}} s since first pod created</text>
<text x="5" y="{{.Pad}}">{{.MaxY}}</text>
<text x="5" y="{{.Bottom}}">0</text>
{{range $i, $s := .Series}}<polyline fill="none" stroke="{{$s.Color}}" stroke-width="2" points="{{$s.Points}}"/>
<text x="{{$.LegendX}}" y="{{$s.LegendY}}" fill="{{$s.Color}}">{{$s.Name}}: {{printf "%.1f" $s.Rate}} pods/s</text>
{{end}}</svg></body></html>
`))

type chartSeries struct {
	Name, Color, Points string
	Rate, LegendY       float64
}

// WriteChart writes an HTML file with one line per report: pods bound against
// seconds since that run's first pod create.
func WriteChart(path string, reports ...*Report) error {
	var maxX float64
	var maxY int
	for _, r := range reports {
		for _, p := range r.Timeline {
			maxX = max(maxX, p.Seconds)
			maxY = max(maxY, p.Bound)
		}
	}
	maxX, maxY = max(maxX, 1), max(maxY, 1)
	plotW, plotH := chartW-2*pad, chartH-2*pad
	data := struct {
		W, H, Pad, Bottom, Right, LabelY, MaxX, LegendX float64
		MaxY                                            int
		Series                                          []chartSeries
	}{W: chartW, H: chartH, Pad: pad, Bottom: chartH - pad, Right: chartW - pad, LabelY: chartH - pad + 20,
		MaxX: maxX, MaxY: maxY, LegendX: pad + 10}
	for i, r := range reports {
		var pts strings.Builder
		for _, p := range r.Timeline {
			x := pad + p.Seconds/maxX*plotW
			y := chartH - pad - float64(p.Bound)/float64(maxY)*plotH
			fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
		}
		data.Series = append(data.Series, chartSeries{
			Name: r.Name, Color: chartColors[i%len(chartColors)], Points: strings.TrimSpace(pts.String()),
			Rate: r.PodsPerSecond, LegendY: pad + 15 + float64(i)*16,
		})
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := chartTmpl.Execute(f, data); err != nil {
		f.Close()
		return fmt.Errorf("chart %s: %w", path, err)
	}
	return f.Close()
}
