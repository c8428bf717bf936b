// Command icons draws the page's PNG icons (static/icon-192.png and
// static/icon-512.png), the picture of static/icon.svg: a white check mark
// on the accent colour. Run it from the repository root after changing it;
// the PNGs are committed.
package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

var (
	accent = color.RGBA{0x1f, 0x6f, 0xeb, 0xff}
	white  = color.RGBA{0xff, 0xff, 0xff, 0xff}
	// tick is the check mark's polyline on a 512-unit square, as in icon.svg.
	tick = [][2]float64{{136, 264}, {216, 344}, {376, 168}}
)

// stroke is half the check mark's width, in 512ths.
const stroke = 28

func main() {
	for _, size := range []int{192, 512} {
		if err := write(fmt.Sprintf("static/icon-%d.png", size), draw(size)); err != nil {
			fmt.Fprintln(os.Stderr, "icons:", err)
			os.Exit(1)
		}
	}
}

// draw paints the full-bleed icon (maskable: the mark stays in the safe
// centre) at size×size pixels.
func draw(size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	scale := 512 / float64(size)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			px, py := (float64(x)+0.5)*scale, (float64(y)+0.5)*scale
			c := accent
			if nearTick(px, py) {
				c = white
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func nearTick(x, y float64) bool {
	for i := 1; i < len(tick); i++ {
		if segmentDistance(x, y, tick[i-1], tick[i]) <= stroke {
			return true
		}
	}
	return false
}

func segmentDistance(x, y float64, a, b [2]float64) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	t := ((x-a[0])*dx + (y-a[1])*dy) / (dx*dx + dy*dy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(x-(a[0]+t*dx), y-(a[1]+t*dy))
}

func write(name string, img image.Image) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
