// Azure ML workspace of one amlgen environment, its dependencies, the shared promotion registry and the roles
// of the deploy identity. Deployed at subscription scope (it creates the resource groups):
//
//   bash infra/params/<env>/deploy.sh        # = az deployment sub create ... --parameters @main.parameters.json
//
// Every parameter value comes from infra/params/<env>/main.parameters.json, rendered by generator/iac.py from
// infra/defaults.yml + infra/environments/<env>.yml (names are derived and length-checked there).
targetScope = 'subscription'

@description('amlgen environment name (infra/environments/<env>.yml).')
@minLength(1)
@maxLength(20)
param environmentName string

@description('Region of the workspace and its dependencies (workspace.location).')
param location string

@description('Resource group of the workspace (workspace.resource_group); created if missing.')
@minLength(1)
@maxLength(90)
param resourceGroupName string

@description('Azure ML workspace name (workspace.name).')
@minLength(3)
@maxLength(33)
param workspaceName string

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Key vault name: 3-24 letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param keyVaultName string

@description('Container registry name: 5-50 letters and digits, globally unique.')
@minLength(5)
@maxLength(50)
param containerRegistryName string

@description('Container registry SKU. Premium is needed for private endpoints and zone redundancy.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param containerRegistrySku string = 'Premium'

@description('Application Insights component name.')
@minLength(1)
@maxLength(255)
param applicationInsightsName string

@description('Log Analytics workspace name.')
@minLength(4)
@maxLength(63)
param logAnalyticsName string

@description('Retention of the Log Analytics workspace in days.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('true: public network access disabled everywhere, managed VNet isolation, workspace private endpoint.')
param privateNetwork bool = false

@description('Virtual network that holds the workspace private endpoint (only with privateNetwork).')
param vnetName string

@description('Address prefix of that virtual network (only with privateNetwork).')
param vnetAddressPrefix string = '10.60.0.0/24'

@description('Object id of the identity that runs `amlgen apply`; empty: no role assignments.')
param deployPrincipalId string = ''

@description('Kind of principal behind deployPrincipalId.')
@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param deployPrincipalType string = 'ServicePrincipal'

@description('Deploy the shared Azure ML promotion registry together with this environment.')
param deployRegistry bool = true

@description('Azure ML registry that carries models from dev to prod (promotion_registry.name).')
@minLength(3)
@maxLength(33)
param registryName string

@description('Resource group of the shared registry; created if missing.')
param registryResourceGroupName string

@description('Regions of the registry (promotion_registry.locations); the first one is its primary region.')
@minLength(1)
param registryLocations array

@description('Tags of the shared registry (only the tags shared by every environment, so deployments agree).')
param registryTags object = {}

@description('Subscription of the shared registry when another environment deploys it; empty: this deployment\'s subscription. Ignored with deployRegistry (the registry is then created in this subscription).')
param registrySubscriptionId string = ''

@description('Access of deployPrincipalId to the shared registry: write = AzureML Registry User (share models into it: the environment models are promoted from), read = Reader (deploy models from it), none, or auto = write where deployRegistry, else read.')
@allowed([
  'auto'
  'read'
  'write'
  'none'
])
param registryAccess string = 'auto'

@description('Tags of every resource of this environment.')
param tags object = {}

var allTags = union(tags, {
  'amlgen-environment': environmentName
})

// Where the shared registry lives: created here with deployRegistry, else wherever the deploying environment put it.
// (Parenthesised conditions: Bicep's own precedence would do, but pycep/checkov mis-parse `a == b ? c : d`.)
var registrySubscription = (deployRegistry || empty(registrySubscriptionId)) ? subscription().subscriptionId : registrySubscriptionId
var registryRole = (registryAccess == 'auto') ? (deployRegistry ? 'write' : 'read') : registryAccess
var grantRegistryAccess = (!empty(deployPrincipalId)) && (registryRole != 'none')

resource workspaceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: allTags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'amlgen-${environmentName}-monitoring'
  scope: workspaceGroup
  params: {
    location: location
    tags: allTags
    logAnalyticsName: logAnalyticsName
    applicationInsightsName: applicationInsightsName
    retentionDays: logRetentionDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'amlgen-${environmentName}-storage'
  scope: workspaceGroup
  params: {
    location: location
    tags: allTags
    name: storageAccountName
    privateNetwork: privateNetwork
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'amlgen-${environmentName}-keyvault'
  scope: workspaceGroup
  params: {
    location: location
    tags: allTags
    name: keyVaultName
    privateNetwork: privateNetwork
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module containerRegistry 'modules/container-registry.bicep' = {
  name: 'amlgen-${environmentName}-acr'
  scope: workspaceGroup
  params: {
    location: location
    tags: allTags
    name: containerRegistryName
    sku: containerRegistrySku
    privateNetwork: privateNetwork
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module workspace 'modules/workspace.bicep' = {
  name: 'amlgen-${environmentName}-workspace'
  scope: workspaceGroup
  params: {
    location: location
    tags: allTags
    name: workspaceName
    storageAccountId: storage.outputs.id
    keyVaultId: keyVault.outputs.id
    containerRegistryId: containerRegistry.outputs.id
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    privateNetwork: privateNetwork
  }
}

module network 'modules/network.bicep' = if (privateNetwork) {
  name: 'amlgen-${environmentName}-network'
  scope: workspaceGroup
  params: {
    location: location
    tags: allTags
    vnetName: vnetName
    addressPrefix: vnetAddressPrefix
    workspaceId: workspace.outputs.id
    workspaceName: workspaceName
  }
}

module workspaceRoles 'modules/workspace-roles.bicep' = if (!empty(deployPrincipalId)) {
  name: 'amlgen-${environmentName}-roles'
  scope: workspaceGroup
  params: {
    principalId: deployPrincipalId
    principalType: deployPrincipalType
    workspaceName: workspace.outputs.name
    storageAccountName: storage.outputs.name
    containerRegistryName: containerRegistry.outputs.name
  }
}

resource registryGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = if (deployRegistry) {
  name: registryResourceGroupName
  location: registryLocations[0]
  tags: registryTags
}

module registry 'modules/registry.bicep' = if (deployRegistry) {
  name: 'amlgen-${environmentName}-registry'
  scope: registryGroup
  params: {
    registryName: registryName
    locations: registryLocations
    tags: registryTags
    privateNetwork: privateNetwork
  }
}

// The deploy identity's role on the shared registry, in the registry's resource group (and subscription): write
// (AzureML Registry User) for the environment that shares models into it, read (Reader) for those that deploy
// them. Needs the registry to exist: deploy the environment with deployRegistry first. The identity running this
// deployment needs the right to assign roles there (Owner, User Access Administrator or Role Based Access Control
// Administrator on the registry or its resource group).
module registryAccessRole 'modules/registry-access.bicep' = if (grantRegistryAccess) {
  name: 'amlgen-${environmentName}-registry-access'
  scope: resourceGroup(registrySubscription, registryResourceGroupName)
  dependsOn: [
    registry
  ]
  params: {
    registryName: registryName
    principalId: deployPrincipalId
    principalType: deployPrincipalType
    access: registryRole
    environmentName: environmentName
  }
}

output workspaceId string = workspace.outputs.id
output workspaceName string = workspaceName
output resourceGroupName string = resourceGroupName
output storageAccountName string = storageAccountName
output keyVaultName string = keyVaultName
output containerRegistryName string = containerRegistryName
output registryName string = registryName
output registryAccess string = grantRegistryAccess ? registryRole : 'none'
