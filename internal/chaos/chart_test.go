package chaos

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"time"
)

// series is one line of a chart: records/s over time.
type series struct {
	points []point
	color  color.RGBA
}

// writeChart draws records/s (over a sliding window of about two seconds)
// against time for each series, with the ceiling as a grey horizontal line
// and a light grid every 10 s and every 10% of the ceiling. No text: the
// caption in BENCHMARKS.md says what is drawn.
func writeChart(path string, ceiling float64, lines []series) error {
	const w, h, pad = 900, 400, 20
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	var span time.Duration
	for _, s := range lines {
		if n := len(s.points); n > 0 {
			span = max(span, s.points[n-1].at)
		}
	}
	if span == 0 {
		span = time.Second
	}
	top := ceiling * 1.25
	x := func(d time.Duration) int { return pad + int(float64(w-2*pad)*d.Seconds()/span.Seconds()) }
	y := func(v float64) int { return h - pad - int(float64(h-2*pad)*min(v, top)/top) }
	grid := color.RGBA{230, 230, 230, 255}
	for s := time.Duration(0); s <= span; s += 10 * time.Second {
		vline(img, x(s), pad, h-pad, grid)
	}
	for f := 0.0; f <= 1.25; f += 0.1 {
		hline(img, pad, w-pad, y(f*ceiling), grid)
	}
	hline(img, pad, w-pad, y(ceiling), color.RGBA{120, 120, 120, 255})
	hline(img, pad, w-pad, y(0), color.RGBA{0, 0, 0, 255})
	vline(img, pad, pad, h-pad, color.RGBA{0, 0, 0, 255})
	for _, s := range lines {
		px, py := -1, -1
		for i, p := range s.points {
			j := i
			for j > 0 && p.at-s.points[j-1].at < 2*time.Second {
				j--
			}
			if j == i {
				continue
			}
			rate := float64(p.written-s.points[j].written) / (p.at - s.points[j].at).Seconds()
			cx, cy := x(p.at), y(rate)
			if px >= 0 {
				line(img, px, py, cx, cy, s.color)
			}
			px, py = cx, cy
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

// line draws a two-pixel-thick segment (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
