// Container registry of the workspace (environment images): no admin user, no anonymous pull.
param location string
param tags object

@minLength(5)
@maxLength(50)
param name string

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param sku string = 'Premium'

param privateNetwork bool = false
param logAnalyticsWorkspaceId string

var premium = sku == 'Premium'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139:publicNetworkAccess follows the privateNetwork parameter (Disabled when private, which needs the Premium SKU); public mode is the dev default, pulls and pushes need Entra ID RBAC.
  // checkov:skip=CKV_AZURE_166:Quarantine needs a scanner that releases images; Azure ML builds and pulls environment images itself and would wait on quarantined images forever.
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    dataEndpointEnabled: false
    publicNetworkAccess: privateNetwork ? 'Disabled' : 'Enabled'
    networkRuleBypassOptions: 'AzureServices'
    zoneRedundancy: premium ? 'Enabled' : 'Disabled'
    policies: {
      retentionPolicy: {
        status: premium ? 'enabled' : 'disabled'
        days: 30
      }
      exportPolicy: {
        status: privateNetwork && premium ? 'disabled' : 'enabled'
      }
    }
  }
}

resource registryDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: registry
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output id string = registry.id
output name string = registry.name
