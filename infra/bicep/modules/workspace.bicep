// The Azure ML workspace: system-assigned identity, optional managed VNet isolation, diagnostics to Log Analytics.
param location string
param tags object

@minLength(3)
@maxLength(33)
param name string

param storageAccountId string
param keyVaultId string
param containerRegistryId string
param applicationInsightsId string
param logAnalyticsWorkspaceId string
param privateNetwork bool = false

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' = {
  // checkov:skip=CKV_AZURE_243:With privateNetwork the managed VNet (AllowOnlyApprovedOutbound) gets private endpoints to the workspace's own storage, key vault and registry from Azure ML itself; no user-defined outbound rule is needed, and without privateNetwork there is no managed VNet.
  // checkov:skip=CKV2_AZURE_49:publicNetworkAccess follows the privateNetwork parameter (Disabled when private, reached through the private endpoint in network.bicep); public mode is the dev default, every call needs Entra ID.
  name: name
  location: location
  tags: tags
  kind: 'Default'
  sku: {
    name: 'Basic'
    tier: 'Basic'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    friendlyName: name
    description: 'amlgen fine-tuning workspace (infra/bicep, rendered by amlgen)'
    storageAccount: storageAccountId
    keyVault: keyVaultId
    containerRegistry: containerRegistryId
    applicationInsights: applicationInsightsId
    hbiWorkspace: false
    v1LegacyMode: false
    enableDataIsolation: true
    publicNetworkAccess: privateNetwork ? 'Disabled' : 'Enabled'
    allowPublicAccessWhenBehindVnet: false
    managedNetwork: {
      isolationMode: privateNetwork ? 'AllowOnlyApprovedOutbound' : 'Disabled'
    }
  }
}

resource workspaceDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: workspace
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
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

output id string = workspace.id
output name string = workspace.name
output principalId string = workspace.identity.principalId
