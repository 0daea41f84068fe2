// The shared Azure ML registry that carries fine-tuned models from dev to prod, replicated to every region of
// promotion_registry.locations (the first one is the primary). Azure ML creates the registry's own storage and
// container registry per region. Roles on it come from registry-access.bicep, deployed by every environment.
@minLength(3)
@maxLength(33)
param registryName string

@minLength(1)
param locations array

param tags object = {}
param privateNetwork bool = false

resource registry 'Microsoft.MachineLearningServices/registries@2024-10-01' = {
  name: registryName
  location: locations[0]
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publicNetworkAccess: privateNetwork ? 'Disabled' : 'Enabled'
    regionDetails: [for region in locations: {
      location: region
      storageAccountDetails: [
        {
          systemCreatedStorageAccount: {
            storageAccountType: 'Standard_LRS'
            storageAccountHnsEnabled: false
            allowBlobPublicAccess: false
          }
        }
      ]
      acrDetails: [
        {
          systemCreatedAcrAccount: {
            acrAccountSku: 'Premium'
          }
        }
      ]
    }]
  }
}

output id string = registry.id
output name string = registry.name
