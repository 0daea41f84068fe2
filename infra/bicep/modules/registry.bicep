// The shared Azure ML registry that carries fine-tuned models from dev to prod, replicated to every region of
// promotion_registry.locations (the first one is the primary). Azure ML creates the registry's own storage and
// container registry per region; the deploy identity gets the AzureML Registry User role.
@minLength(3)
@maxLength(33)
param registryName string

@minLength(1)
param locations array

param tags object = {}
param privateNetwork bool = false
param deployPrincipalId string = ''

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param deployPrincipalType string = 'ServicePrincipal'

var registryUserRole = '1823dd4f-9b8c-4ab6-ab4e-7397a3684615' // AzureML Registry User: read and create assets

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

resource registryUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployPrincipalId)) {
  name: guid(registry.id, deployPrincipalId, registryUserRole)
  scope: registry
  properties: {
    principalId: deployPrincipalId
    principalType: deployPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', registryUserRole)
  }
}

output id string = registry.id
output name string = registry.name
