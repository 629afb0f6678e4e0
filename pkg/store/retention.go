package store

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// retentionTables are the tables partitioned by day whose old partitions ApplyRetention
// drops. findings (small, unpartitioned, the record of what happened) and the
// endpoint inventory (an aggregate with no time partition) are kept.
var retentionTables = []string{TableCalls, TableClientProfiles}

// ApplyRetention drops the daily partitions of api_calls and client_profiles older than
// days days before today (UTC) and returns them as "table/YYYY-MM-DD". Table TTL does not
// exist on 18.16; dropping a partition is a metadata operation and costs no merge.
func (s *Store) ApplyRetention(ctx context.Context, days int) ([]string, error) {
	return s.ApplyRetentionAt(ctx, days, time.Now())
}

// ApplyRetentionAt is ApplyRetention with "today" taken from now.
func (s *Store) ApplyRetentionAt(ctx context.Context, days int, now time.Time) ([]string, error) {
	if days < 1 {
		return nil, fmt.Errorf("retention of %d days: want at least 1", days)
	}
	today := now.UTC().Truncate(24 * time.Hour)
	cutoff := today.AddDate(0, 0, -days).Format("20060102")
	var dropped []string
	for _, table := range retentionTables {
		rows, err := s.conn.Query(ctx,
			"SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = ? AND active AND partition_id < ? ORDER BY partition_id",
			s.db, table, cutoff)
		if err != nil {
			return dropped, fmt.Errorf("list partitions of %s: %w", table, err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return dropped, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dropped, err
		}
		for _, id := range ids {
			day, err := time.Parse("20060102", id)
			if err != nil {
				return dropped, fmt.Errorf("partition %q of %s is not a day; was the table created by another schema?", id, table)
			}
			// A partition of toDate(ts) is named by its date value on every version.
			if err := s.conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION '%s'", table, day.Format("2006-01-02"))); err != nil {
				return dropped, fmt.Errorf("drop partition %s of %s: %w", day.Format("2006-01-02"), table, err)
			}
			dropped = append(dropped, table+"/"+day.Format("2006-01-02"))
			s.log.Info("dropped partition past retention", zap.String("table", table), zap.String("day", day.Format("2006-01-02")), zap.Int("days", days))
		}
	}
	return dropped, nil
}
