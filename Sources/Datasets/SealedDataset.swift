import Catalog
import Sealing

/// A sealed dataset as the maintenance commands see it: its catalog rows, its placement and
/// its keys. Key rotation (`KeyRotation.swift`) and catalog rebuild (`CatalogRebuild.swift`)
/// are operations on it.
public struct SealedDataset: Sendable {
    public let catalog: any Catalog
    public let placement: ResolvedPlacement
    public let dataset: String
    public let sealer: DatasetSealer

    /// Throws when the placement is not sealed.
    public init(catalog: any Catalog, placement: ResolvedPlacement, dataset: String) throws {
        guard let sealer = placement.sealer else { throw SealingError.malformed("dataset '\(dataset)' is not sealed") }
        self.catalog = catalog
        self.placement = placement
        self.dataset = dataset
        self.sealer = sealer
    }
}
