//go:build race

package imapwatch

// hugeFieldSize is the size of the huge header fields of
// TestMailboxHugeHeadersInBulkCostABoundedFetch. imapmemserver parses the
// whole header for every fetch, which the race detector makes ten times
// slower: 2 MB keeps the test short and is still a hundred times the
// header limit (the old code read 100 MB for the 50 messages).
const hugeFieldSize = 2 << 20
