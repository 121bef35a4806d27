package flows

import "testing"

func BenchmarkCompile10k(b *testing.B) {
	t := Synthetic(100, 10, 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(t); err != nil {
			b.Fatal(err)
		}
	}
}
