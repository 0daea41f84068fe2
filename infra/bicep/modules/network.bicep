// Private networking (only deployed with privateNetwork): a virtual network with one subnet for private
// endpoints, the workspace private endpoint and the private DNS zones that resolve it.
param location string
param tags object
param vnetName string
param addressPrefix string = '10.60.0.0/24'
param workspaceId string
param workspaceName string

var dnsZoneNames = [
  'privatelink.api.azureml.ms'
  'privatelink.notebooks.azure.net'
]

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  // checkov:skip=CKV_AZURE_182:The network only holds private endpoints and uses Azure-provided DNS with the linked private DNS zones below; custom DNS servers would break that resolution.
  // checkov:skip=CKV_AZURE_183:Azure-provided DNS (168.63.129.16) is what resolves the linked private DNS zones; no local DNS servers exist.
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: addressPrefix
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

resource dnsZones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for zone in dnsZoneNames: {
  name: zone
  location: 'global'
  tags: tags
}]

resource dnsLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (zone, i) in dnsZoneNames: {
  parent: dnsZones[i]
  name: '${vnetName}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

resource workspaceEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: 'pe-${workspaceName}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: vnet.properties.subnets[0].id
    }
    privateLinkServiceConnections: [
      {
        name: 'pe-${workspaceName}'
        properties: {
          privateLinkServiceId: workspaceId
          groupIds: [
            'amlworkspace'
          ]
        }
      }
    ]
  }
}

resource workspaceEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = {
  parent: workspaceEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [for (zone, i) in dnsZoneNames: {
      name: replace(zone, '.', '-')
      properties: {
        privateDnsZoneId: dnsZones[i].id
      }
    }]
  }
}

output vnetId string = vnet.id
output privateEndpointId string = workspaceEndpoint.id
