package exportdb

// PieceSize is pieceSize for the tests of the slice queries.
const PieceSize = pieceSize
