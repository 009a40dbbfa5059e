//! Alignment scores, as CIPP defines them, one point per completed compare:
//! applicable = the covered subjects in scope that no exclusion hid;
//! compliant = applicable without an open or accepted finding;
//! aligned % = (compliant + accepted) / applicable; verified % = compliant
//! / applicable; content-verified % = compliant at content fidelity /
//! applicable. The point is written in the compare's last transaction and
//! history is read from the points, never recomputed from findings.

use chrono::{DateTime, Utc};
use entity::enums::FindingStatus;
use entity::{alignment_point, finding};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set,
};

/// What a compare counted, before findings are looked at.
pub struct CompareCounts {
    pub tenant_id: i64,
    pub workspace_id: i64,
    pub baseline_profile_id: i64,
    pub run_id: i64,
    /// Subjects compared in the covered types.
    pub subjects: u64,
    /// Subjects an exclusion hid.
    pub excluded: u64,
    /// Subjects equal at content fidelity on both sides.
    pub equal_at_content: u64,
    /// Baseline subjects in types the compare could not cover.
    pub uncovered: u64,
    pub at: DateTime<Utc>,
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| ((part as f64) * 10_000.0 / (whole as f64)).round() / 100.0)
}

/// Writes the compare's point. The findings it saw are counted by status in
/// one query (this run is the last to have seen them).
pub async fn record_point<C: ConnectionTrait>(
    db: &C,
    counts: CompareCounts,
) -> Result<alignment_point::Model, DbErr> {
    let by_status: Vec<(FindingStatus, i64)> = finding::Entity::find()
        .select_only()
        .column(finding::Column::Status)
        .column_as(finding::Column::Id.count(), "n")
        .filter(finding::Column::TenantId.eq(counts.tenant_id))
        .filter(finding::Column::BaselineProfileId.eq(counts.baseline_profile_id))
        .filter(finding::Column::LastSeenOperationRunId.eq(counts.run_id))
        .filter(finding::Column::Status.ne(FindingStatus::Resolved))
        .group_by(finding::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let count = |s: FindingStatus| {
        by_status
            .iter()
            .filter(|(status, _)| *status == s)
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    let accepted = count(FindingStatus::Accepted);
    let open = count(FindingStatus::Open) + count(FindingStatus::Acknowledged);
    let applicable = counts.subjects.saturating_sub(counts.excluded) as i64;
    let compliant = (applicable - open - accepted).max(0);
    let compliant_content = (counts.equal_at_content as i64).min(compliant);
    alignment_point::ActiveModel {
        tenant_id: Set(counts.tenant_id),
        workspace_id: Set(counts.workspace_id),
        baseline_profile_id: Set(counts.baseline_profile_id),
        operation_run_id: Set(counts.run_id),
        applicable: Set(applicable),
        compliant: Set(compliant),
        compliant_content: Set(compliant_content),
        accepted: Set(accepted),
        excluded: Set(counts.excluded as i64),
        uncovered: Set(counts.uncovered as i64),
        aligned_percent: Set(percent(compliant + accepted, applicable)),
        verified_percent: Set(percent(compliant, applicable)),
        content_verified_percent: Set(percent(compliant_content, applicable)),
        as_of: Set(counts.at),
        ..Default::default()
    }
    .insert(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_round_to_two_places_and_need_a_whole() {
        assert_eq!(percent(2, 3), Some(66.67));
        assert_eq!(percent(3, 3), Some(100.0));
        assert_eq!(percent(0, 0), None);
    }
}
