package flows

// Named priorities. Within one table a more specific rule wins by priority;
// the table-miss flow is always PrioMiss and drops.
const (
	PrioMiss    uint16 = 0
	PrioLow     uint16 = 100
	PrioNormal  uint16 = 200
	PrioHigh    uint16 = 300
	PrioHighest uint16 = 400
	// PrioTagged classifies a trunk instance by its tag, above the
	// Classifier's drop of every other tagged frame.
	PrioTagged uint16 = 500
)
