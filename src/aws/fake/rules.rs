//! The AWS rules the fake enforces (what moto does not): RevisionId and CodeSha256
//! preconditions, version numbers never reused, alias names and routing, per-qualifier resource
//! policies with unique statement ids and EventSourceToken, referenced versions that cannot be
//! deleted, duplicate mappings.

use super::*;

impl Function {
    pub(super) fn new(arn: String, code_sha256: &str, revision_id: String, last_modified: i64) -> Self {
        Function {
            last_modified,
            arn,
            code_sha256: code_sha256.to_string(),
            revision_id,
            config_generation: 0,
            versions: BTreeMap::new(),
            high_water: 0,
            aliases: BTreeMap::new(),
            policies: BTreeMap::new(),
            warm: BTreeMap::new(),
            warm_failing: BTreeMap::new(),
        }
    }

    pub(super) fn info(&self) -> FunctionInfo {
        FunctionInfo {
            function_arn: self.arn.clone(),
            code_sha256: self.code_sha256.clone(),
            revision_id: self.revision_id.clone(),
            last_modified: Some(self.last_modified),
        }
    }

    pub(super) fn version_info(number: u64, version: &Version) -> VersionInfo {
        VersionInfo {
            version: number,
            code_sha256: version.code_sha256.clone(),
            description: version.description.clone(),
        }
    }

    pub(super) fn alias_info(&self, name: &str, alias: &Alias) -> AliasInfo {
        AliasInfo {
            name: name.to_string(),
            alias_arn: format!("{}:{name}", self.arn),
            function_version: alias.version.clone(),
            description: alias.description.clone(),
            routing: alias.routing.clone(),
            revision_id: alias.revision_id.clone(),
        }
    }

    pub(super) fn qualifier_exists(&self, qualifier: &str) -> bool {
        if qualifier == LATEST {
            return true;
        }
        match parse_version(qualifier) {
            Some(n) => self.versions.contains_key(&n),
            None => self.aliases.contains_key(qualifier),
        }
    }

    /// The policy key of an existing qualifier ("" or `$LATEST` for the unqualified function).
    pub(super) fn policy_key_of(&self, qualifier: &str, op: Operation) -> AwsResult<String> {
        let key = policy_key(qualifier);
        if key.is_empty() || self.qualifier_exists(key) {
            Ok(key.to_string())
        } else {
            Err(not_found(op, format!("function not found: {}:{qualifier}", self.arn)))
        }
    }

    /// An alias target: `$LATEST` or an existing published version.
    pub(super) fn check_target(&self, version: &str, op: Operation) -> AwsResult<()> {
        if version == LATEST {
            return Ok(());
        }
        match parse_version(version) {
            Some(n) if self.versions.contains_key(&n) => Ok(()),
            Some(_) => Err(not_found(op, format!("version {version} of {} does not exist", self.arn))),
            None => Err(invalid(op, format!("function version must be a number or $LATEST: {version:?}"))),
        }
    }

    /// AWS: at most one additional version, weight in [0, 1], a published version other than
    /// the primary one, and the primary version must not be `$LATEST` (the error texts are
    /// AWS's, as recorded in LocalStack's snapshot tests).
    pub(super) fn check_routing(
        &self,
        primary: &str,
        routing: &BTreeMap<String, f64>,
        op: Operation,
    ) -> AwsResult<()> {
        if routing.is_empty() {
            return Ok(());
        }
        if routing.len() > 1 {
            return Err(invalid(op, "Number of items in AdditionalVersionWeights cannot be greater than 1"));
        }
        if primary == LATEST {
            return Err(invalid(op, "$LATEST is not supported for an alias pointing to more than 1 version"));
        }
        for (version, weight) in routing {
            if !(0.0..=1.0).contains(weight) {
                return Err(invalid(
                    op,
                    format!(
                        "1 validation error detected: Value '{weight}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Member must have value between 0.0 and 1.0"
                    ),
                ));
            }
            if version == primary {
                return Err(invalid(
                    op,
                    format!("Function version {version} is already included in routing configuration."),
                ));
            }
            match parse_version(version) {
                Some(n) if self.versions.contains_key(&n) => {}
                Some(_) => {
                    return Err(not_found(op, format!("version {version} of {} does not exist", self.arn)));
                }
                None => {
                    return Err(invalid(op, format!("additional version must be published: {version:?}")));
                }
            }
        }
        Ok(())
    }
}

impl State {
    pub(super) fn next_id(&mut self) -> u64 {
        self.ids += 1;
        self.ids
    }

    pub(super) fn new_revision(&mut self) -> String {
        let n = self.next_id();
        format!("{n:08x}-0000-4000-a000-{n:012x}")
    }

    pub(super) fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:{}:{}:function:{name}", self.region, self.account)
    }

    /// Splits a function identifier (name, partial ARN or ARN, optionally qualified) into the
    /// function name and qualifier.
    pub(super) fn parse(&self, ident: &str, op: Operation) -> AwsResult<(String, Option<String>)> {
        let parts: Vec<&str> = ident.split(':').collect();
        let (account, region, name, qualifier) = match parts.as_slice() {
            ["arn", _, "lambda", region, account, "function", name] => {
                (Some(*account), Some(*region), *name, None)
            }
            ["arn", _, "lambda", region, account, "function", name, q] => {
                (Some(*account), Some(*region), *name, Some(*q))
            }
            [account, "function", name] => (Some(*account), None, *name, None),
            [account, "function", name, q] => (Some(*account), None, *name, Some(*q)),
            [name] => (None, None, *name, None),
            [name, q] => (None, None, *name, Some(*q)),
            _ => return Err(invalid(op, format!("not a function name or ARN: {ident:?}"))),
        };
        if name.is_empty() || qualifier == Some("") {
            return Err(invalid(op, format!("not a function name or ARN: {ident:?}")));
        }
        // Another account or region is another control plane, where this function does not exist.
        if account.is_some_and(|a| a != self.account) || region.is_some_and(|r| r != self.region) {
            return Err(not_found(op, format!("function not found: {ident}")));
        }
        Ok((name.to_string(), qualifier.map(str::to_string)))
    }

    pub(super) fn unqualified_name(&self, ident: &str, op: Operation) -> AwsResult<String> {
        match self.parse(ident, op)? {
            (name, None) => Ok(name),
            (_, Some(_)) => Err(invalid(op, format!("expected an unqualified function: {ident}"))),
        }
    }

    pub(super) fn function(&self, ident: &str, op: Operation) -> AwsResult<&Function> {
        let name = self.unqualified_name(ident, op)?;
        self.functions.get(&name).ok_or_else(|| not_found(op, format!("function not found: {ident}")))
    }

    pub(super) fn function_mut(&mut self, ident: &str, op: Operation) -> AwsResult<&mut Function> {
        let name = self.unqualified_name(ident, op)?;
        self.functions.get_mut(&name).ok_or_else(|| not_found(op, format!("function not found: {ident}")))
    }

    /// The normalised ARN a mapping stores, after checking that function and qualifier exist.
    pub(super) fn mapping_target(&self, ident: &str, op: Operation) -> AwsResult<String> {
        let (name, qualifier) = self.parse(ident, op)?;
        let function =
            self.functions.get(&name).ok_or_else(|| not_found(op, format!("function not found: {ident}")))?;
        match qualifier {
            None => Ok(function.arn.clone()),
            Some(q) if function.qualifier_exists(&q) => Ok(format!("{}:{q}", function.arn)),
            Some(_) => Err(not_found(op, format!("function not found: {ident}"))),
        }
    }

    /// The next injected fault for `op`, if any: aimed faults first, then the queue.
    pub(super) fn take_fault(&mut self, op: Operation) -> Option<Fault> {
        if let Some(i) = self.targeted.iter().position(|(o, n, _)| *o == op && *n > 0) {
            let entry = &mut self.targeted[i];
            entry.1 -= 1;
            let fault = entry.2.clone();
            if entry.1 == 0 {
                self.targeted.remove(i);
            }
            return Some(fault);
        }
        self.queued.pop_front()
    }

    pub(super) fn publish(
        &mut self,
        ident: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
        description: Option<&str>,
        op: Operation,
    ) -> AwsResult<VersionInfo> {
        let description = description.unwrap_or_default();
        validate_description(description, op)?;
        let f = self.function_mut(ident, op)?;
        if code_sha256 != f.code_sha256 {
            return Err(precondition(
                op,
                format!(
                    "CodeSha256 ({code_sha256}) is different from current CodeSha256 in $LATEST ({})",
                    f.code_sha256
                ),
            ));
        }
        if let Some(r) = revision_id
            && r != f.revision_id
        {
            return Err(precondition(
                op,
                format!("RevisionId {r} does not match $LATEST ({})", f.revision_id),
            ));
        }
        // Unchanged code and configuration since the newest version: AWS returns that version.
        if let Some((&n, v)) = f.versions.last_key_value()
            && v.code_sha256 == f.code_sha256
            && v.config_generation == f.config_generation
        {
            return Ok(Function::version_info(n, v));
        }
        f.high_water += 1;
        let version = Version {
            code_sha256: f.code_sha256.clone(),
            description: description.to_string(),
            config_generation: f.config_generation,
        };
        let info = Function::version_info(f.high_water, &version);
        f.versions.insert(f.high_water, version);
        Ok(info)
    }

    pub(super) fn create_alias(
        &mut self,
        ident: &str,
        name: &str,
        version: &str,
        description: &str,
        op: Operation,
    ) -> AwsResult<AliasInfo> {
        validate_alias_name(name, op)?;
        validate_description(description, op)?;
        let revision_id = self.new_revision();
        let f = self.function_mut(ident, op)?;
        if f.aliases.contains_key(name) {
            return Err(conflict(op, format!("alias already exists: {}:{name}", f.arn)));
        }
        f.check_target(version, op)?;
        let alias = Alias {
            version: version.to_string(),
            description: description.to_string(),
            routing: BTreeMap::new(),
            revision_id,
        };
        let info = f.alias_info(name, &alias);
        f.aliases.insert(name.to_string(), alias);
        Ok(info)
    }

    /// UpdateAlias. `description: None` keeps the current one; `routing: None` keeps the
    /// current weights, as AWS does when RoutingConfig is omitted (an out-of-band update), and
    /// `Some` replaces them (the seam's UpdateAlias always sends it; empty clears).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn update_alias(
        &mut self,
        ident: &str,
        name: &str,
        version: &str,
        description: Option<&str>,
        revision_id: Option<&str>,
        routing: Option<&BTreeMap<String, f64>>,
        op: Operation,
    ) -> AwsResult<AliasInfo> {
        if let Some(d) = description {
            validate_description(d, op)?;
        }
        let new_revision = self.new_revision();
        let ready_at = self.clock + self.warm_delay;
        let f = self.function_mut(ident, op)?;
        let alias =
            f.aliases.get(name).ok_or_else(|| not_found(op, format!("alias not found: {}:{name}", f.arn)))?;
        if let Some(r) = revision_id
            && r != alias.revision_id
        {
            return Err(precondition(
                op,
                format!("RevisionId {r} does not match alias {name} ({})", alias.revision_id),
            ));
        }
        f.check_target(version, op)?;
        let routing = routing.unwrap_or(&alias.routing).clone();
        f.check_routing(version, &routing, op)?;
        let description = description.map_or_else(|| alias.description.clone(), str::to_string);
        if alias.version != version {
            f.alias_moved(name, ready_at);
        }
        let alias = Alias { version: version.to_string(), description, routing, revision_id: new_revision };
        let info = f.alias_info(name, &alias);
        f.aliases.insert(name.to_string(), alias);
        Ok(info)
    }

    pub(super) fn set_routing(
        &mut self,
        ident: &str,
        name: &str,
        routing: impl FnOnce(&mut BTreeMap<String, f64>),
        op: Operation,
    ) -> AwsResult<AliasInfo> {
        let new_revision = self.new_revision();
        let f = self.function_mut(ident, op)?;
        let alias =
            f.aliases.get(name).ok_or_else(|| not_found(op, format!("alias not found: {}:{name}", f.arn)))?;
        let mut new_routing = alias.routing.clone();
        routing(&mut new_routing);
        f.check_routing(&alias.version, &new_routing, op)?;
        if let Some(alias) = f.aliases.get_mut(name) {
            alias.routing = new_routing;
            alias.revision_id = new_revision;
        }
        let alias = f.aliases.get(name).ok_or_else(|| not_found(op, format!("alias not found: {name}")))?;
        Ok(f.alias_info(name, alias))
    }

    pub(super) fn delete_alias(&mut self, ident: &str, name: &str, op: Operation) -> AwsResult<()> {
        let f = self.function_mut(ident, op)?;
        if f.aliases.remove(name).is_none() {
            return Err(not_found(op, format!("alias not found: {}:{name}", f.arn)));
        }
        // The alias's resource policy and provisioned concurrency go with it.
        f.policies.remove(name);
        f.warm.remove(name);
        Ok(())
    }

    pub(super) fn add_permission(
        &mut self,
        ident: &str,
        qualifier: &str,
        statement: &Statement,
        revision_id: Option<&str>,
        op: Operation,
    ) -> AwsResult<()> {
        validate_statement(statement, op)?;
        let new_revision = self.new_revision();
        let f = self.function_mut(ident, op)?;
        let key = f.policy_key_of(qualifier, op)?;
        let current = f.policies.get(&key);
        if let Some(r) = revision_id {
            match current {
                Some(p) if p.revision_id == r => {}
                Some(p) => {
                    return Err(precondition(
                        op,
                        format!("RevisionId {r} does not match the policy ({})", p.revision_id),
                    ));
                }
                None => {
                    return Err(precondition(
                        op,
                        format!("RevisionId {r} given but {qualifier:?} has no policy"),
                    ));
                }
            }
        }
        if current.is_some_and(|p| p.statements.iter().any(|s| s.sid == statement.sid)) {
            return Err(conflict(
                op,
                format!("the statement id ({}) provided already exists on {qualifier:?}", statement.sid),
            ));
        }
        let policy = f
            .policies
            .entry(key)
            .or_insert_with(|| Policy { revision_id: String::new(), statements: Vec::new() });
        policy.statements.push(statement.clone());
        policy.revision_id = new_revision;
        Ok(())
    }

    pub(super) fn remove_permission(
        &mut self,
        ident: &str,
        qualifier: &str,
        sid: &str,
        op: Operation,
    ) -> AwsResult<()> {
        let new_revision = self.new_revision();
        let f = self.function_mut(ident, op)?;
        let key = f.policy_key_of(qualifier, op)?;
        let missing = || not_found(op, format!("statement {sid} not found on {qualifier:?}"));
        let policy = f.policies.get_mut(&key).ok_or_else(missing)?;
        let index = policy.statements.iter().position(|s| s.sid == sid).ok_or_else(missing)?;
        policy.statements.remove(index);
        policy.revision_id = new_revision;
        // AWS deletes an empty policy: GetPolicy then answers "not found".
        if policy.statements.is_empty() {
            f.policies.remove(&key);
        }
        Ok(())
    }

    pub(super) fn check_batch_size(batch_size: Option<u32>, op: Operation) -> AwsResult<()> {
        match batch_size {
            Some(n) if n == 0 || n > 10_000 => Err(invalid(op, format!("BatchSize must be 1 to 10000: {n}"))),
            _ => Ok(()),
        }
    }

    pub(super) fn duplicate_mapping(
        &self,
        uuid: Option<&str>,
        function_arn: &str,
        event_source_arn: &str,
    ) -> Option<&str> {
        self.mappings
            .values()
            .find(|m| {
                Some(m.uuid.as_str()) != uuid
                    && m.function_arn == function_arn
                    && m.event_source_arn == event_source_arn
            })
            .map(|m| m.uuid.as_str())
    }

    pub(super) fn create_mapping(
        &mut self,
        request: &CreateMapping,
        op: Operation,
    ) -> AwsResult<MappingInfo> {
        let function_arn = self.mapping_target(&request.function_arn, op)?;
        let source = &request.event_source_arn;
        if !source.starts_with("arn:") {
            return Err(invalid(op, format!("EventSourceArn must be an ARN: {source:?}")));
        }
        Self::check_batch_size(request.batch_size, op)?;
        match (is_stream(source), &request.starting_position) {
            (true, None) => return Err(invalid(op, "StartingPosition is required for a stream source")),
            (false, Some(_)) => {
                return Err(invalid(op, "StartingPosition is only allowed for a stream source"));
            }
            _ => {}
        }
        if let Some(uuid) = self.duplicate_mapping(None, &function_arn, source) {
            return Err(conflict(
                op,
                format!("an event source mapping with {source} and {function_arn} already exists: {uuid}"),
            ));
        }
        let n = self.next_id();
        let mapping = MappingInfo {
            uuid: format!("{n:08x}-0000-4000-8000-{n:012x}"),
            function_arn,
            event_source_arn: source.clone(),
            batch_size: request.batch_size,
            enabled: request.enabled,
            state: mapping_state(request.enabled),
        };
        self.mappings.insert(mapping.uuid.clone(), mapping.clone());
        Ok(mapping)
    }

    pub(super) fn update_mapping(
        &mut self,
        request: &UpdateMapping,
        op: Operation,
    ) -> AwsResult<MappingInfo> {
        let target = match &request.function_arn {
            Some(arn) => Some(self.mapping_target(arn, op)?),
            None => None,
        };
        Self::check_batch_size(request.batch_size, op)?;
        let current = self
            .mappings
            .get(&request.uuid)
            .ok_or_else(|| not_found(op, format!("event source mapping not found: {}", request.uuid)))?;
        if let Some(t) = &target
            && let Some(other) = self.duplicate_mapping(Some(&request.uuid), t, &current.event_source_arn)
        {
            return Err(conflict(
                op,
                format!(
                    "an event source mapping with {} and {t} already exists: {other}",
                    current.event_source_arn
                ),
            ));
        }
        let mapping = self
            .mappings
            .get_mut(&request.uuid)
            .ok_or_else(|| not_found(op, format!("event source mapping not found: {}", request.uuid)))?;
        if let Some(t) = target {
            mapping.function_arn = t;
        }
        if let Some(b) = request.batch_size {
            mapping.batch_size = Some(b);
        }
        if let Some(e) = request.enabled {
            mapping.enabled = e;
            mapping.state = mapping_state(e);
        }
        Ok(mapping.clone())
    }

    pub(super) fn delete_mapping(&mut self, uuid: &str, op: Operation) -> AwsResult<()> {
        match self.mappings.remove(uuid) {
            Some(_) => Ok(()),
            None => Err(not_found(op, format!("event source mapping not found: {uuid}"))),
        }
    }

    pub(super) fn delete_version(&mut self, ident: &str, version: u64, op: Operation) -> AwsResult<()> {
        let f = self.function_mut(ident, op)?;
        if !f.versions.contains_key(&version) {
            return Err(not_found(op, format!("version {version} of {} does not exist", f.arn)));
        }
        let text = version.to_string();
        if let Some(name) =
            f.aliases.iter().find(|(_, a)| a.version == text || a.routing.contains_key(&text)).map(|(n, _)| n)
        {
            return Err(conflict(op, format!("version {version} is referenced by alias {name}")));
        }
        f.versions.remove(&version);
        f.policies.remove(&text);
        f.warm.remove(&text);
        Ok(())
    }
}
