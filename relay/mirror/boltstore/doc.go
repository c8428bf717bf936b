package boltstore
