package flows

import "testing"

// The security-group case of bench/flowscale: 1,000 instances in 50 groups
// with 5,000 rules (issue 10: 10x fewer allocations than 6.7 M).
func BenchmarkCompileSG(b *testing.B) {
	t := SyntheticSG(1000, 50, 5000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(t); err != nil {
			b.Fatal(err)
		}
	}
}
