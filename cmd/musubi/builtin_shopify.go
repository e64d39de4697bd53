package main

// The Shopify provider registers itself as provider type "shopify".
import _ "github.com/musubi-hq/musubi/providers/shopify"
