package chaos

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// series is one line of a chart: records/s over time.
type series struct {
	name   string
	points []point
	color  color.RGBA
}

// writeChart draws records/s against time for each series — the rate over
// a sliding window as long as the limit's own — with the ceiling as a grey
// line, a light grid every 10 s and every 10% of the ceiling, and labelled
// axes and legend.
func writeChart(path string, ceiling float64, window time.Duration, lines []series) error {
	const w, h, left, right, top, bottom = 960, 440, 70, 20, 40, 50
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
	span = max(span.Round(10*time.Second)+10*time.Second, 10*time.Second)
	ymax := ceiling * 1.25
	x := func(d time.Duration) int { return left + int(float64(w-left-right)*d.Seconds()/span.Seconds()) }
	y := func(v float64) int { return h - bottom - int(float64(h-top-bottom)*min(v, ymax)/ymax) }
	grid, black := color.RGBA{230, 230, 230, 255}, color.RGBA{0, 0, 0, 255}
	for s := time.Duration(0); s <= span; s += 10 * time.Second {
		vline(img, x(s), top, h-bottom, grid)
		label(img, x(s)-8, h-bottom+16, fmt.Sprintf("%ds", int(s.Seconds())), black)
	}
	for f := 0.0; f <= 1.2501; f += 0.25 {
		hline(img, left, w-right, y(f*ceiling), grid)
		label(img, 8, y(f*ceiling)+4, fmt.Sprintf("%.0f/s", f*ceiling), black)
	}
	hline(img, left, w-right, y(ceiling), color.RGBA{120, 120, 120, 255})
	label(img, w-right-140, y(ceiling)-6, "ceiling (the limit)", color.RGBA{90, 90, 90, 255})
	hline(img, left, w-right, y(0), black)
	vline(img, left, top, h-bottom, black)
	label(img, left, 20, fmt.Sprintf("records/s over a sliding %s window, by number of worker processes", window), black)
	label(img, w/2-30, h-12, "time since start", black)
	for i, s := range lines {
		label(img, left+10+i*130, top+16, s.name, s.color)
		px, py := -1, -1
		for i, p := range s.points {
			j := i
			for j > 0 && p.at-s.points[j-1].at <= window {
				j--
			}
			if j == i || p.at-s.points[j].at < window/2 {
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

func label(img *image.RGBA, x, y int, text string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(text)
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
