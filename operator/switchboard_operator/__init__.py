"""The Switchboard operator: kopf handlers reconciling Tenant, VoiceAgent and KnowledgeBase."""
