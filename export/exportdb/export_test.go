package exportdb

import "io"

// PieceSize is pieceSize for the tests of the slice queries.
const PieceSize = pieceSize

// ReadAheadInFlight is how many slices a SealedReader is reading ahead.
func ReadAheadInFlight(rc io.ReadCloser) int { return len(rc.(*sliceReader).queue) }
