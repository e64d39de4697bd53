package shopify

// What the external tests check the provider's names against.
var (
	Marker            = markerOf
	IsPlaceholderCode = isPlaceholderCode
)
